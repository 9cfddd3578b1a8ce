// The CGI program of the conformance suite when the `stackware cgi` command is not used:
// registers the TypeScript loaders, then runs the conformance app once with runCgi.
import { registerLoaders } from '../../loader/index.js';

registerLoaders();
const { runCgi } = await import('../src/cgi.ts');
const { default: app } = await import('./conformance-app.ts');
await runCgi(app);
process.exit();
