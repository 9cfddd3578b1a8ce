/**
 * Jest 30 in native ESM mode (run with NODE_OPTIONS=--experimental-vm-modules) with @swc/jest.
 * Workspace packages resolve through the "source" export condition to their TypeScript sources,
 * so tests import TypeScript directly. The `stackware` command runs compiled dist/ (as in
 * production), so globalSetup first rebuilds every package whose dist/ is older than its src/:
 * tests that spawn the command never run a stale build.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['source', 'node', 'node-addons'] },
  roots: ['<rootDir>/packages', '<rootDir>/apps'],
  testMatch: ['**/test/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' }, sourceMaps: 'inline' }],
  },
  globalSetup: '<rootDir>/scripts/build-if-stale.mjs',
  testTimeout: 30000,
  maxWorkers: 2,
  // A leaked handle in one suite (a keep-alive socket, a library timer) must never hang CI, so CI
  // exits when the run is over; locally Jest still reports such leaks ("did not exit").
  forceExit: process.env.CI === 'true',
  reporters: ['default', '<rootDir>/scripts/summary-reporter.js'],
};
