import { HTTPServlet, type Transaction } from '@stackware/servlet';

/** /shop/banner — a fragment for includeURL. */
export class banner extends HTTPServlet {
  respondToGet(t: Transaction) {
    t.response.setHeader('Content-Type', 'text/html; charset=utf-8');
    void t.response.write('<aside>banner</aside>');
  }
}
