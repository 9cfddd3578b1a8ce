import { threadPool } from './src/index.ts';
const pool = threadPool({ module: './test/fixtures/app.ts', threads: 1, log: (t) => console.log('LOG', t) });
setTimeout(() => { console.log('timeout'); process.exit(1); }, 8000);
await pool.ready().catch((e) => console.log('ready failed', e));
console.log('ready');
process.exit(0);
