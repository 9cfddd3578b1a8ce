import type { ParsedCommand } from './args.js';
import type { CommandName } from './options.js';

/** One subcommand of `stackware`. */
export interface Command {
  /** "stackware serve <module.ts[#export]> [options]". */
  usage: string;
  /** One line for `stackware --help`. */
  summary: string;
  run(command: ParsedCommand): Promise<void>;
}

/**
 * The subcommands. To add one: a row here, its name in `CommandName`, its flags in OPTIONS.
 * Each `run` imports its module when called, so `stackware --help` loads no server, and serving
 * a module loads no deploy-file machinery.
 */
export const COMMANDS: Partial<Record<CommandName, Command>> = {
  serve: {
    usage: 'stackware serve <module.ts[#export] | site.toml> [options]',
    summary: 'serve an application (the default export, or #name) over HTTP, or every server of a deploy file (reloaded live)',
    run: async (command) => (await import('./serve.js')).serveCommand(command),
  },
  check: {
    usage: 'stackware check <site.toml>',
    summary: 'validate a deploy file without serving it and print the resolved stack',
    run: async (command) => (await import('./deploy.js')).checkCommand(command),
  },
  cgi: {
    usage: 'stackware cgi <module.ts[#export]>',
    summary: 'answer one request as a CGI script (RFC 3875: environment, stdin, stdout), then exit',
    run: async (command) => (await import('./cgi.js')).cgiCommand(command),
  },
};
