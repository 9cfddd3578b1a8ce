import { Page } from '@stackware/servlet';

export default class Dashboard extends Page {
  override async writeContent(): Promise<void> {
    await this.writeln('<p>dashboard</p>');
  }
}
