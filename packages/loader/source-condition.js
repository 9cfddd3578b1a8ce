// Module resolve hook: adds the "source" export condition, so that workspace packages
// (whose package.json maps "source" to src/index.ts) run from TypeScript without a build.
// Compiled deployments omit this hook and resolve "default" to dist/.
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('source') ? context.conditions : ['source', ...context.conditions];
  return nextResolve(specifier, { ...context, conditions });
}
