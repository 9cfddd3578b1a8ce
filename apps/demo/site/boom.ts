/**
 * GET /boom — fails on purpose. The exception catcher (@stackware/errors) answers: the debug page
 * (stack, source, request) for loopback clients when DEBUG is true (the default), the production
 * page with an error id for everyone else or with DEBUG=false; a report and an .eml mail go to the
 * data directory.
 */
import { SitePage } from '../lib/layout.js';

/** A page that throws. */
export default class Boom extends SitePage {
  override title(): string {
    return 'Error page';
  }

  override async writeContent(): Promise<void> {
    await this.writeln('<p>This text is never sent.</p>');
    throw new Error('The demo failed on purpose: this is what an uncaught exception looks like');
  }
}
