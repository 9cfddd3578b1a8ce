/**
 * @stackware/cli — the `stackware` command, as a library: the option table, the parser, the
 * target → application → server flow, for commands and protocols that plug in.
 */
export { main, helpText, version } from './main.js';
export { OPTIONS, camelCase, type CliOption, type CommandName, type OptionValue } from './options.js';
export { parseCommandLine, optionsHelp, type ParsedCommand } from './args.js';
export { COMMANDS, type Command } from './commands.js';
export { resolveTarget, loadApplication, type Target, type ModuleTarget } from './target.js';
export { SERVERS, pickServer, type ServerStarter, type ServerContext } from './servers.js';
export { serveCommand, commandPlan, buildApplication, cliLogger } from './serve.js';
export { UsageError } from './usage-error.js';
export { EXIT_CODES, exitCodesHelp } from './exit-codes.js';
export { LoadError, loadError } from './load-error.js';
