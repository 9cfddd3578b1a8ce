import { runCgi } from '@stackware/server';
import type { ParsedCommand } from './args.js';
import { loadApplication, resolveTarget } from './target.js';
import { UsageError } from './usage-error.js';

/**
 * `stackware cgi <module.ts[#export]>`: the CGI gateway as a command, for a web server's
 * ScriptAlias (Apache mod_cgi/mod_cgid, lighttpd mod_cgi). Loads the application, answers the one
 * request in the environment/stdin with `runCgi` (RFC 3875: `Status:` and headers on stdout), and
 * exits. Nothing but the response goes to stdout; errors go to stderr (the web server's error log).
 */
export async function cgiCommand(command: ParsedCommand): Promise<void> {
  if (command.positionals.length !== 1) throw new UsageError(`cgi takes one application: stackware cgi path/to/module.ts[#export]${command.positionals.length ? `, got ${command.positionals.join(' ')}` : ''}`);
  const target = resolveTarget(command.positionals[0]);
  const app = await loadApplication(target);
  await runCgi(app);
  process.exit();
}
