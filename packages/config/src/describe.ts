import type { DeploymentDefinition, AppDef } from './deployment.js';
import { describeUse } from './deployment.js';

/**
 * The resolved stack as text, for `stackware check`: the main application, each application's
 * tree (pipelines outermost filter first, composites with their mounts in match order),
 * locations with their merged keys and pools, and servers.
 */
export function describeDeployment(deployment: DeploymentDefinition): string {
  const about = (type: 'app' | 'filter' | 'server', name: string): string => {
    const text = (deployment as Partial<{ descriptionOf(t: string, n: string): string | undefined }>).descriptionOf?.(type, name);
    return text ? ` — ${text}` : '';
  };
  const out: string[] = [`deployment ${deployment.file}`];
  let main: string | undefined;
  try {
    main = deployment.main;
  } catch {
    main = undefined;
  }
  if (Object.keys(deployment.defaults).length) out.push(`defaults: ${Object.entries(deployment.defaults).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`);
  out.push('', 'applications:');
  const tree = (name: string, indent: string, seen: Set<string>): void => {
    const def = deployment.apps.get(name)!;
    out.push(`${indent}${name}${name === main ? ' (main)' : ''}: ${summary(def)}${def.kind === 'app' ? about('app', name) : ''}`);
    if (seen.has(name)) return;
    const inner = new Set(seen).add(name);
    if (def.kind === 'pipeline') {
      def.filters.forEach((f, i) => out.push(`${indent}  ${i + 1}. filter ${f}: ${describeUse(deployment.filters.get(f)!.use)}${options(deployment.filters.get(f)!.options)}${about('filter', f)}`));
      out.push(`${indent}  ${def.filters.length + 1}. app:`);
      tree(def.app, `${indent}     `, inner);
    } else if (def.kind === 'composite') {
      const ordered = [...def.mounts].sort((a, b) => hostFirst(b[0]) - hostFirst(a[0]) || b[0].replace(/\/+$/, '').length - a[0].replace(/\/+$/, '').length);
      for (const [prefix, app] of ordered) {
        out.push(`${indent}  mount ${prefix} →`);
        tree(app, `${indent}    `, inner);
      }
      if (def.notFound) out.push(`${indent}  not found → ${def.notFound}`);
    }
  };
  const roots = main ? [main, ...[...deployment.apps.keys()].filter((n) => n !== main && !isReferenced(deployment, n))] : [...deployment.apps.keys()];
  for (const name of roots) tree(name, '  ', new Set());
  if (deployment.locations.length) {
    out.push('', 'locations (longest prefix wins, merged over defaults):');
    for (const loc of deployment.locations) out.push(`  ${loc.prefix || '/'}: ${Object.entries(loc.settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || '(no settings)'}${loc.pool ? ` [pool ${loc.pool}]` : ''}${loc.group ? ` [group ${loc.group}]` : ''}`);
  }
  if (deployment.pools.size) {
    out.push('', 'thread-pool groups:');
    for (const pool of deployment.pools.values()) out.push(`  ${pool.name}: ${pool.threads} threads, timeout ${pool.timeoutMs} ms`);
  }
  if (deployment.groups.size) {
    out.push('', 'process groups:');
    for (const g of deployment.groups.values()) {
      const limits = [
        `${g.processes} process${g.processes === 1 ? '' : 'es'}`, ...(g.threads ? [`${g.threads} threads each`] : []), ...(g.user !== undefined ? [`user ${g.user}`] : []),
        ...(g.memoryLimitMb ? [`memory ${g.memoryLimitMb} MiB`] : []), ...(g.maxRequests ? [`max ${g.maxRequests} requests`] : []), `timeout ${g.timeoutMs} ms`,
        ...(g.inactivityTimeoutMs ? [`inactivity ${g.inactivityTimeoutMs} ms`] : []), ...(g.hosts.length ? [`hosts ${g.hosts.join(' ')}`] : []),
      ];
      out.push(`  ${g.name}: ${limits.join(', ')}`);
    }
  }
  out.push('', 'servers:');
  if (!deployment.servers.size) out.push('  (none: `stackware serve` needs a [server.NAME] section)');
  for (const s of deployment.servers.values()) {
    const o = s.options;
    const where = `${s.protocol}://${String(o.host ?? '127.0.0.1')}:${String(o.port ?? 'default port')}`;
    const extra = [...(s.workers ? [`workers=${s.workers}`] : []), ...(s.threads ? [`threads=${s.threads}`] : []), ...Object.entries(o).filter(([k]) => !['host', 'port', 'protocol'].includes(k)).map(([k, v]) => `${k}=${JSON.stringify(v)}`)];
    out.push(`  ${s.name}: ${where} serving ${s.app ?? main ?? '?'} via ${describeUse(s.use)}${extra.length ? ` (${extra.join(', ')})` : ''}${about('server', s.name)}`);
  }
  return out.join('\n') + '\n';
}

function summary(def: AppDef): string {
  if (def.kind === 'pipeline') return `pipeline [${[...def.filters, def.app].join(', ')}]`;
  if (def.kind === 'composite') return `composite (${def.mounts.length} mount${def.mounts.length === 1 ? '' : 's'})`;
  return def.use !== undefined ? `app ${describeUse(def.use)}${options(def.options)}` : `app ${describeUse(def.application)}`;
}

function options(opts: Readonly<Record<string, unknown>>): string {
  const entries = Object.entries(opts);
  return entries.length ? ` {${entries.map(([k, v]) => ` ${k}=${/secret|password|key/i.test(k) ? '"***"' : JSON.stringify(v)}`).join(',')} }` : '';
}

function hostFirst(prefix: string): number {
  return /^https?:\/\//i.test(prefix) ? 1 : 0;
}

function isReferenced(deployment: DeploymentDefinition, name: string): boolean {
  for (const def of deployment.apps.values()) {
    if (def.kind === 'pipeline' && def.app === name) return true;
    if (def.kind === 'composite' && (def.mounts.some(([, a]) => a === name) || def.notFound === name)) return true;
  }
  return false;
}
