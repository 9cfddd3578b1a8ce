import { isIP } from 'node:net';
import { getOriginalRemote, type Environ } from '@stackware/gateway';

/** Host names the debug page answers to by default (Werkzeug's trusted hosts for a local debugger). */
export const DEFAULT_TRUSTED_HOSTS = ['localhost', '127.0.0.1', '::1'];

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.replace(/^::ffff:/i, '');
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return isIP(address) === 6 && /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(address);
}

/** True for a listen address that only this machine can reach: "localhost", 127.0.0.0/8, "::1" (brackets allowed). */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || isLoopbackAddress(name);
}

/** The host name of a Host header value: "[::1]:8080" → "::1", "Example.com:80" → "example.com". */
export function hostName(host: string): string {
  const trimmed = host.trim().toLowerCase();
  if (trimmed.startsWith('[')) return trimmed.slice(1, trimmed.indexOf(']') === -1 ? undefined : trimmed.indexOf(']'));
  return trimmed.replace(/:\d*$/, '').replace(/\.$/, '');
}

/** Who may see the debug page and the report viewer. */
export interface DebugAccessOptions {
  /** Host header names accepted (default {@link DEFAULT_TRUSTED_HOSTS}); "*.example.com" matches subdomains. */
  trustedHosts?: string[];
  /** Client addresses accepted besides loopback (default none). */
  trustedAddresses?: string[];
}


/**
 * True when a loopback REMOTE_ADDR is only the address of a proxy on this machine: the request
 * carries X-Forwarded-For, Forwarded or X-Real-IP, and no forwardedHeaders() middleware set
 * REMOTE_ADDR from them. This catches only proxies configured to send those headers: nginx's
 * default `proxy_pass http://127.0.0.1:8080` sends none of them, and `Host: 127.0.0.1:8080`, so
 * its clients pass both checks — which is why debug output also needs the debugger PIN.
 */
function viaUntrustedProxy(environ: Environ): boolean {
  const forwarded = ['HTTP_X_FORWARDED_FOR', 'HTTP_FORWARDED', 'HTTP_X_REAL_IP'].some((k) => typeof environ[k] === 'string' && environ[k] !== '');
  if (!forwarded) return false;
  const original = getOriginalRemote(environ);
  return !(original && Object.hasOwn(original, 'REMOTE_ADDR'));
}

/**
 * True when this request may see debug information: the client (REMOTE_ADDR) is loopback or a
 * trusted address, AND the Host header names a trusted host. The Host check is Werkzeug's lesson:
 * a page on evil.example whose name resolves to 127.0.0.1 (DNS rebinding) reaches a loopback
 * server from the victim's browser, but with `Host: evil.example`. A loopback request that
 * carries X-Forwarded-For, Forwarded or X-Real-IP came through a proxy on this machine and is
 * refused, unless the forwarded-headers middleware (placed before the catcher) took REMOTE_ADDR
 * from those headers. A proxy that sends none of them (nginx's default `proxy_pass`) is NOT
 * detected: this check alone does not make debug output safe behind a local proxy — the
 * catcher's debugger PIN does.
 */
export function isDebugClient(environ: Environ, options: DebugAccessOptions = {}): boolean {
  const address = environ.REMOTE_ADDR;
  const addressOk = isLoopbackAddress(address) || (address !== undefined && (options.trustedAddresses ?? []).includes(address));
  if (!addressOk) return false;
  if (isLoopbackAddress(address) && viaUntrustedProxy(environ)) return false;
  const host = typeof environ.HTTP_HOST === 'string' ? environ.HTTP_HOST : undefined;
  if (!host) return false;
  const name = hostName(host);
  return (options.trustedHosts ?? DEFAULT_TRUSTED_HOSTS).some((trusted) => {
    const t = trusted.toLowerCase();
    return t.startsWith('*.') ? name.endsWith(t.slice(1)) : name === t;
  });
}
