/**
 * A small SVG writer for the benchmark chart: one panel per group, one horizontal bar per case,
 * each bar labelled with its value and its ratio to the group's baseline. Bars in a panel share
 * one scale starting at zero; panels have their own scales (their units differ), so compare bars
 * within a panel. Colour tells the kind: baseline grey, Stackware blue, peers orange
 * (Okabe–Ito palette, readable with colour-vision deficiencies).
 */
import type { ChartGroup } from './report.js';

const COLOURS = { baseline: '#8a8a8a', stackware: '#0072b2', peer: '#e69f00' } as const;
const WIDTH = 1020;
const LABEL_W = 380;
const BAR_W = 380;
const BAR_H = 18;
const GAP = 6;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function fmtValue(v: number, unit: string): string {
  const n = v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
  return `${n} ${unit}`;
}

/** Renders the groups as one SVG document (a string). `title` and `subtitle` head the chart. */
export function renderChart(groups: readonly ChartGroup[], title: string, subtitle: string): string {
  const parts: string[] = [];
  let y = 30;
  parts.push(`<text x="20" y="${y}" font-size="20" font-weight="bold">${esc(title)}</text>`);
  y += 22;
  parts.push(`<text x="20" y="${y}" font-size="12" fill="#444">${esc(subtitle)}</text>`);
  y += 22;
  let lx = 20;
  for (const [kind, label] of [['baseline', 'baseline of the group'], ['stackware', 'Stackware'], ['peer', 'other servers and frameworks']] as const) {
    parts.push(`<rect x="${lx}" y="${y - 11}" width="14" height="14" fill="${COLOURS[kind]}"/><text x="${lx + 20}" y="${y}" font-size="13">${label}</text>`);
    lx += 40 + label.length * 7.5;
  }
  y += 16;
  for (const group of groups) {
    y += 26;
    const better = group.higherIsBetter ? 'longer is better' : 'shorter is better';
    parts.push(`<text x="20" y="${y}" font-size="15" font-weight="bold">${esc(group.title)}</text><text x="${WIDTH - 20}" y="${y}" font-size="12" fill="#555" text-anchor="end">${esc(group.unit)} · ${better}</text>`);
    y += 10;
    const max = Math.max(...group.bars.map((b) => b.value), 1e-9);
    for (const bar of group.bars) {
      const w = Math.max(1, (bar.value / max) * BAR_W);
      const ratio = bar.kind === 'baseline' ? '1.00× (baseline)' : `${bar.ratio.toFixed(2)}×`;
      parts.push(
        `<text x="${LABEL_W + 10}" y="${y + BAR_H - 5}" font-size="13" text-anchor="end">${esc(bar.label)}</text>`,
        `<rect x="${LABEL_W + 20}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${COLOURS[bar.kind]}"/>`,
        `<text x="${LABEL_W + 26 + w}" y="${y + BAR_H - 5}" font-size="12">${esc(fmtValue(bar.value, group.unit))} · ${ratio}</text>`,
      );
      y += BAR_H + GAP;
    }
    parts.push(`<line x1="${LABEL_W + 20}" y1="${y - GAP - BAR_H * group.bars.length - GAP * (group.bars.length - 1) - 2}" x2="${LABEL_W + 20}" y2="${y - GAP + 2}" stroke="#333" stroke-width="1"/>`);
  }
  y += 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" ${FONT}>\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}
