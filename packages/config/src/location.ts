import { CONFIG_LOCATION_KEY, CONFIG_SETTINGS_KEY, type Application, type Environ, type Middleware } from '@stackware/gateway';

/** One `[location."/prefix"]` table: settings merged over `[defaults]` for requests under `prefix`. */
export interface LocationDef {
  /** Path prefix without a trailing slash ("" for "/"); matches whole segments. */
  readonly prefix: string;
  /** The settings (every key but `pool` and `group`). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The thread-pool group that serves this prefix, if any. */
  readonly pool: string | undefined;
  /** The process group (`[group.NAME]`) that serves this prefix, if any. */
  readonly group?: string | undefined;
}

const SETTINGS = CONFIG_SETTINGS_KEY;
const LOCATION = CONFIG_LOCATION_KEY;

/** True when `path` is `prefix` or below it, on a segment boundary ("/admin" ⊇ "/admin/x", not "/administrator"). */
export function underPrefix(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(prefix + '/');
}

/**
 * The settings for one request path: `defaults`, then every matching location from the shortest
 * prefix to the longest, each merged over the previous (Apache `<Location>` merging: the longest
 * match wins key by key). Returns the merged settings and the longest matching location.
 */
export function settingsFor(path: string, defaults: Readonly<Record<string, unknown>>, locations: readonly LocationDef[]): { settings: Readonly<Record<string, unknown>>; location: LocationDef | undefined } {
  let settings: Record<string, unknown> | undefined;
  let location: LocationDef | undefined;
  for (const loc of locations) {
    if (!underPrefix(path, loc.prefix)) continue;
    settings = { ...(settings ?? defaults), ...loc.settings };
    location = loc;
  }
  return { settings: Object.freeze(settings ?? defaults), location };
}

/** Sorts locations shortest prefix first (the order {@link settingsFor} merges them). */
export function sortLocations(locations: LocationDef[]): LocationDef[] {
  return locations.sort((a, b) => a.prefix.length - b.prefix.length);
}

/**
 * The configuration filter: sets the per-request settings that {@link getConfig} returns — the
 * `[defaults]` table with every `[location."/prefix"]` table matching the request path
 * (SCRIPT_NAME + PATH_INFO as this filter sees it) merged over it, longest prefix last.
 * `buildApplication` puts it outermost, so locations match the full request path.
 */
export function configFilter(defaults: Readonly<Record<string, unknown>>, locations: readonly LocationDef[]): Middleware {
  const frozenDefaults = Object.freeze({ ...defaults });
  const sorted = sortLocations([...locations]);
  return (app: Application): Application => (environ, startResponse) => {
    const { settings, location } = settingsFor(environ.SCRIPT_NAME + environ.PATH_INFO, frozenDefaults, sorted);
    environ[SETTINGS] = settings;
    environ[LOCATION] = location?.prefix;
    return app(environ, startResponse);
  };
}

/**
 * The configuration for this request: `[defaults]` merged with the matching `[location]` tables
 * (read-only). Empty when the application was not built from a deployment.
 * @example
 * const { debug } = getConfig(environ) as { debug?: boolean };
 */
export function getConfig(environ: Environ): Readonly<Record<string, unknown>> {
  const settings = environ[SETTINGS];
  return settings && typeof settings === 'object' ? (settings as Readonly<Record<string, unknown>>) : EMPTY;
}

/** The prefix of the `[location]` that matched this request ("/admin"; "" for "/"), or undefined. */
export function getLocation(environ: Environ): string | undefined {
  const value = environ[LOCATION];
  return typeof value === 'string' ? value : undefined;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});
