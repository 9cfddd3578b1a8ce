/**
 * The dependency direction, enforced on imports (`pnpm depcheck`; CI runs it). The table of
 * packages and what each may use is scripts/architecture.cjs; ARCHITECTURE.md explains it.
 * Regenerate the diagram in ARCHITECTURE.md with:
 *   npx depcruise packages --config .dependency-cruiser.cjs --output-type archi
 * @type {import('dependency-cruiser').IConfiguration}
 */
const { packages, testUses } = require('./scripts/architecture.cjs');

const names = Object.keys(packages);
const others = (allowed, self) => names.filter((n) => n !== self && !allowed.includes(n));

const rules = [];
for (const name of names) {
  const uses = packages[name].uses;
  if (uses === '*') continue;
  const srcForbidden = others(uses, name);
  rules.push({
    name: `${name}-src-direction`,
    severity: 'error',
    comment: `packages/${name}/src may import only ${uses.length ? uses.join(', ') : 'no other workspace package'} (scripts/architecture.cjs)`,
    from: { path: `^packages/${name}/src/` },
    to: { path: `^packages/(${srcForbidden.join('|')})/` },
  });
  const testForbidden = others(testUses(name), name);
  if (testForbidden.length > 0) {
    rules.push({
      name: `${name}-test-direction`,
      severity: 'error',
      comment: `packages/${name}/test may import only lower packages, testing and server; a test that needs ${testForbidden.join(', ')} belongs in packages/integration`,
      from: { path: `^packages/${name}/test/` },
      to: { path: `^packages/(${testForbidden.join('|')})/` },
    });
  }
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular-between-packages',
      severity: 'error',
      comment: 'a cycle between workspace packages (through src or tests)',
      from: { path: '^(packages|apps)/([^/]+)/' },
      to: { circular: true, path: '^(packages|apps)/([^/]+)/', pathNot: '^$1/$2/' },
    },
    {
      name: 'no-src-to-test',
      severity: 'error',
      comment: 'shipped code never imports test code',
      from: { path: '^packages/[^/]+/src/' },
      to: { path: '^packages/[^/]+/test/' },
    },
    {
      name: 'no-deep-import-into-another-package',
      severity: 'error',
      comment: "import another package by its name (@stackware/x or an entry point it exports), not by a relative path into its folder",
      from: { path: '^packages/([^/]+)/src/' },
      to: { path: '^packages/', pathNot: '^packages/$1/', dependencyTypes: ['local'] },
    },
    {
      name: 'src-imports-declared-dependencies',
      severity: 'error',
      comment: "a package's shipped code imports only what its package.json declares in dependencies (or peer/optional dependencies): a user installs the package alone, without this workspace's root or dev dependencies",
      from: { path: '^packages/[^/]+/src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown', 'npm-dev'], dependencyTypesNot: ['type-only', 'npm-peer', 'npm-optional'] },
    },
    ...rules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|\\.ci|\\.readme-blocks)/|\\.tmp\\.' },
    tsPreCompilationDeps: true,
    parser: 'swc',
    combinedDependencies: false,
    preserveSymlinks: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['source', 'import', 'node', 'default'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: {
      archi: { collapsePattern: '^(packages|apps)/[^/]+' },
      dot: { collapsePattern: '^(packages|apps)/[^/]+' },
      text: { highlightFocused: true },
    },
  },
};
