import type { Application } from '@stackware/gateway';
import { runCgi } from '@stackware/server';
import type { ParsedCommand } from './args.js';
import { loadApplication, resolveTarget } from './target.js';
import { UsageError } from './usage-error.js';

/**
 * `stackware cgi <module.ts[#export]>`: the CGI gateway as a command, for a web server's
 * ScriptAlias (Apache mod_cgi/mod_cgid, lighttpd mod_cgi). Loads the application, answers the one
 * request in the environment/stdin with `runCgi` (RFC 3875: `Status:` and headers on stdout), and
 * exits. Nothing but the response goes to stdout; errors go to stderr (the web server's error log).
 * When the application cannot be loaded (missing file or export, the module throws), the client
 * still gets a well-formed CGI answer — 500 — and the reason goes to stderr; the exit code is 1.
 */
export async function cgiCommand(command: ParsedCommand): Promise<void> {
  if (command.positionals.length !== 1) throw new UsageError(`cgi takes one application: stackware cgi path/to/module.ts[#export]${command.positionals.length ? `, got ${command.positionals.join(' ')}` : ''}`);
  let app: Application;
  try {
    app = await loadApplication(resolveTarget(command.positionals[0]));
  } catch (error) {
    app = () => { throw error; };
    process.exitCode = 1;
  }
  await runCgi(app);
  process.exit();
}
