/** Shared helpers for `bench/*.bench.ts`: server children, load runs and comparisons, reports, the chart. */
export { startServerChild, announce, rssBytes, cpuMicros, type ServerChild, type ServerChildOptions } from './child.js';
export { load, compare, median, type LoadOptions, type LoadResult, type Case, type CaseFigures, type CompareOptions } from './load.js';
export { emitFigures, readFigures, markdownTable, fmtRps, fmtRatio, fmtMs, machineInfo, FIGURES_ENV, type ChartBar, type ChartGroup, type MachineInfo } from './report.js';
export { renderChart } from './chart.js';
export { profileServer, summarizeProfiles, profileTable, type ProfileRow, type ProfileSummary, type ProfileServerOptions } from './profile.js';
