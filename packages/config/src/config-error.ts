/** Where a configuration mistake is: the file, the section ("app.site") and the key, with a line when known. */
export interface ConfigErrorInit {
  /** The deploy file's path, or "<code>" for a deployment defined in code. */
  file: string;
  /** The section: "app.site", "pipeline.main", "location./admin", "defaults"; undefined for the whole file. */
  section?: string;
  /** The key inside the section, when the mistake is one key. */
  key?: string;
  /** 1-based line and column in the file, when known. */
  line?: number;
  column?: number;
  /** What is wrong. */
  problem: string;
  /** What would fix it. */
  fix: string;
  cause?: unknown;
}

/**
 * A mistake in a deployment (a deploy file or a `defineDeployment` spec). The message is one line
 * that names the file, the section, the key and the fix:
 *
 * `site.toml:12:1: [app.site] key "use": module ./lib/site.ts has no export "factory" — export it, or name one of: default, app`
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly section: string | undefined;
  readonly key: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly problem: string;
  readonly fix: string;

  constructor(init: ConfigErrorInit) {
    const where = init.line !== undefined ? `${init.file}:${init.line}:${init.column ?? 1}` : init.file;
    const section = init.section !== undefined ? ` [${init.section}]` : '';
    const key = init.key !== undefined ? ` key ${JSON.stringify(init.key)}` : '';
    super(`${where}:${section}${key}${key ? ':' : ''} ${init.problem} — ${init.fix}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ConfigError';
    this.file = init.file;
    this.section = init.section;
    this.key = init.key;
    this.line = init.line;
    this.column = init.column;
    this.problem = init.problem;
    this.fix = init.fix;
  }
}

/** True for a {@link ConfigError}. */
export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}
