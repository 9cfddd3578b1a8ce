// Browser code: it would throw if Node executed it.
document.querySelector('h1').textContent = 'hello from the browser';
