/**
 * @stackware/config — one deploy file (TOML) wires the whole stack: apps, filters, pipelines,
 * composites (URL maps), servers, thread-pool groups, and URL-specific settings (`[location]`)
 * read per request with `getConfig(environ)`. The same structure can be built in code.
 */
export { ConfigError, isConfigError, type ConfigErrorInit } from './config-error.js';
export { Deployment, defineDeployment, type BuildOptions, type BuiltApplication } from './build.js';
export {
  DeploymentDefinition, SECTION_TYPES,
  type DeploymentSpec, type AppSection, type FilterSection, type ServerSection, type PoolSection,
  type AppDef, type FilterDef, type ServerDef, type PoolDef, type SourceLocator,
} from './deployment.js';
export { loadDeployment, parseDeployment, type LoadOptions } from './load.js';
export { configFilter, getConfig, getLocation, settingsFor, type LocationDef } from './location.js';
export { interpolate } from './interpolate.js';
export { describeDeployment } from './describe.js';
export { deploymentPlan, serveDeployment, type DeploymentPlan, type ServeDeploymentOptions, type ServingDeployment } from './serve.js';
// The orchestrator's live (swappable) application, re-exported where it was first published.
export { LiveApplication } from '@stackware/server';
export { startOperations, metricsSupervisor, parseListenAddress, METRICS_ENV, type MetricsSettings, type OperationsActions, type OperationsListener } from './operations.js';
