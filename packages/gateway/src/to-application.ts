import type { Application } from './types.js';

/**
 * A well-known symbol: an exported value (typically a class, such as a Servlet subclass) with a
 * static method under this key can be turned into an Application by anything that loads modules
 * (the URL parser, the deploy file, the CLI) without depending on the package that defined it.
 */
export const TO_APPLICATION: unique symbol = Symbol.for('stackware.toApplication') as never;

/** Something that can become an application: `value[TO_APPLICATION]()` returns one. */
export interface ApplicationSource {
  [TO_APPLICATION](): Application | Promise<Application>;
}

/**
 * Turns a module export into an Application: a value with a static `[TO_APPLICATION]()` is
 * converted; any other function is taken as an Application as it is.
 * @returns undefined when `value` is neither.
 */
export async function asApplication(value: unknown): Promise<Application | undefined> {
  if ((typeof value === 'function' || (typeof value === 'object' && value !== null)) && typeof (value as Partial<ApplicationSource>)[TO_APPLICATION] === 'function') {
    return (value as ApplicationSource)[TO_APPLICATION]();
  }
  return typeof value === 'function' ? (value as Application) : undefined;
}
