// The digest's picture: replies and ratings per day (bars, the server's calendar days) and the week's ratings by
// stars, drawn by Chart.js on @napi-rs/canvas (Skia; its platform binary is an npm optional dependency) as a PNG,
// with alt text that says the same in words. The image is opaque with its own light card, so it reads the same in
// Discord's light and dark themes. The font is Inter from @fontsource/inter, registered here: no system font is used.
import { createRequire } from 'node:module';
import type { SKRSContext2D } from '@napi-rs/canvas';
import type { ChartConfiguration } from 'chart.js';

type CanvasModule = typeof import('@napi-rs/canvas');
type ChartModule = typeof import('chart.js');
const requireHere = createRequire(import.meta.url);
let libs: { canvas: CanvasModule; chart: ChartModule } | null = null;

/**
 * Skia and Chart.js, loaded (synchronously, through require) when the first chart is drawn: a process that never
 * draws one (a worker between digests, `blogcord web`) never holds them (~30 MB).
 */
function chartLibs(): { canvas: CanvasModule; chart: ChartModule } {
  libs ??= { canvas: requireHere('@napi-rs/canvas') as CanvasModule, chart: requireHere('chart.js') as ChartModule };
  return libs;
}

export interface DigestDay {
  /** The local calendar date, `2026-11-23`. */
  date: string;
  /** "Mon 23": the label under its bars. */
  label: string;
  replies: number;
  ratings: number;
}

export interface DigestChartData {
  /** "23–30 Nov 2026" */
  periodName: string;
  timezone: string;
  days: DigestDay[];
  /** Ratings given in the period by stars: index 0 = 1 star … 4 = 5 stars. */
  stars: [number, number, number, number, number];
}

export interface DigestChart {
  filename: string;
  png: Buffer;
  /** The attachment's description (alt text): the same figures in words, at most 1024 characters. */
  description: string;
  width: number;
  height: number;
}

export const CHART_FILENAME = 'digest.png';
export const CHART_WIDTH = 1200;
export const CHART_HEIGHT = 600;
/** Discord's limit on an attachment's description. */
export const ALT_TEXT_MAX = 1024;

/** The card's colours: dark text on an off-white card (contrast ≥ 12:1), bars in Discord's blurple and a gold. */
export const CHART_COLORS = {
  background: '#f6f7f9',
  text: '#1f2328',
  muted: '#4e5058',
  grid: '#d9dbe0',
  replies: '#5865f2',
  ratings: '#d97706',
  stars: '#e0a100',
} as const;

/**
 * The PNG's encoding: zlib level 3 without row filters. A flat chart compresses as well as with libpng's defaults
 * (level 6, all five filters tried on every row: 75.5 KB for a busy week) to about the same size (77 KB), in a
 * fifth of the time (the defaults were about half of the chart's time).
 */
const PNG_OPTIONS = { compressionLevel: 3, filters: 0x08 /* PngFilter.None */ };

const FONT = 'Inter';
let fontsReady = false;

/** Registers Inter (regular and semibold) from the @fontsource/inter package once; throws if it cannot be read. */
export function ensureChartFonts(): void {
  if (fontsReady) return;
  const {
    canvas: { GlobalFonts },
    chart: { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Title },
  } = chartLibs();
  for (const weight of ['400', '600']) {
    const file = requireHere.resolve(`@fontsource/inter/files/inter-latin-${weight}-normal.woff2`);
    if (!GlobalFonts.registerFromPath(file, FONT)) throw new Error(`could not load the chart font ${file}`);
  }
  Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Title);
  Chart.defaults.font.family = FONT;
  Chart.defaults.color = CHART_COLORS.text;
  fontsReady = true;
}

function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

const starName = (i: number): string => `${i + 1} ${i === 0 ? 'star' : 'stars'}`;

/** True when the period has something to draw (a week without replies or ratings gets no chart). */
export function hasChartData(d: Pick<DigestChartData, 'days' | 'stars'>): boolean {
  return d.days.some((x) => x.replies > 0 || x.ratings > 0) || d.stars.some((n) => n > 0);
}

/** The alt text: every day's figures and the stars, cut to Discord's 1024 characters. */
export function chartDescription(d: DigestChartData): string {
  const days = d.days.map((x) => `${x.label}: ${plural(x.replies, 'reply', 'replies')}, ${plural(x.ratings, 'rating', 'ratings')}`).join('; ');
  const stars = d.stars
    .map((n, i) => `${starName(i)}: ${n.toLocaleString('en-US')}`)
    .reverse()
    .join(', ');
  const text = `Chart of ${d.periodName} (${d.timezone}). Replies and ratings per day: ${days}. Ratings given, by stars: ${stars}.`;
  return text.length <= ALT_TEXT_MAX ? text : `${text.slice(0, ALT_TEXT_MAX - 1)}…`;
}

/** Draws one chart on its own canvas (Chart.js fills the canvas it is given) and copies it onto `into` at (x, y). */
function drawChart(into: SKRSContext2D, x: number, y: number, width: number, height: number, config: ChartConfiguration<'bar'>): void {
  const {
    canvas: { createCanvas },
    chart: { Chart },
  } = chartLibs();
  const canvas = createCanvas(width, height);
  // Chart.js draws synchronously on a 2D context when animation and responsiveness are off (no DOM needed).
  const chart = new Chart(canvas.getContext('2d') as unknown as CanvasRenderingContext2D, config);
  into.drawImage(canvas, x, y);
  chart.destroy(); // (destroy clears its canvas: only after the copy)
}

/** The PNG of a period, or null when it has nothing to draw. Pure apart from the one-time font registration. */
export function renderDigestChart(d: DigestChartData): DigestChart | null {
  if (!hasChartData(d)) return null;
  ensureChartFonts();
  const canvas = chartLibs().canvas.createCanvas(CHART_WIDTH, CHART_HEIGHT);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = CHART_COLORS.background;
  ctx.fillRect(0, 0, CHART_WIDTH, CHART_HEIGHT);

  const scale = (title: string) => ({
    beginAtZero: true,
    ticks: { color: CHART_COLORS.muted, font: { size: 18 }, precision: 0 },
    grid: { color: CHART_COLORS.grid },
    title: { display: Boolean(title), text: title, color: CHART_COLORS.muted, font: { size: 18 } },
  });
  const common = { responsive: false, animation: false as const, devicePixelRatio: 1 };

  drawChart(ctx, 0, 10, 760, CHART_HEIGHT - 20, {
    type: 'bar',
    data: {
      labels: d.days.map((x) => x.label),
      datasets: [
        { label: 'Replies', data: d.days.map((x) => x.replies), backgroundColor: CHART_COLORS.replies, borderRadius: 4 },
        { label: 'Ratings', data: d.days.map((x) => x.ratings), backgroundColor: CHART_COLORS.ratings, borderRadius: 4 },
      ],
    },
    options: {
      ...common,
      layout: { padding: { left: 16, right: 16, top: 8, bottom: 8 } },
      plugins: {
        title: {
          display: true,
          text: `Replies and ratings per day · ${d.periodName}`,
          color: CHART_COLORS.text,
          font: { size: 24, weight: 600 },
          padding: { bottom: 8 },
        },
        legend: { labels: { color: CHART_COLORS.text, font: { size: 18 }, boxWidth: 22 } },
      },
      scales: { x: { ...scale(''), grid: { display: false } }, y: scale('') },
    },
  });
  drawChart(ctx, 760, 10, CHART_WIDTH - 760, CHART_HEIGHT - 20, {
    type: 'bar',
    data: {
      labels: [4, 3, 2, 1, 0].map((i) => `${starName(i)} (${d.stars[i]!.toLocaleString('en-US')})`),
      datasets: [{ label: 'Ratings', data: [4, 3, 2, 1, 0].map((i) => d.stars[i]!), backgroundColor: CHART_COLORS.stars, borderRadius: 4 }],
    },
    options: {
      ...common,
      indexAxis: 'y',
      layout: { padding: { left: 8, right: 24, top: 8, bottom: 8 } },
      plugins: {
        title: { display: true, text: 'Ratings this week by stars', color: CHART_COLORS.text, font: { size: 24, weight: 600 }, padding: { bottom: 8 } },
        legend: { display: false },
      },
      scales: { x: scale('ratings'), y: { ...scale(''), grid: { display: false } } },
    },
  });

  return { filename: CHART_FILENAME, png: canvas.encodeSync('png', PNG_OPTIONS), description: chartDescription(d), width: CHART_WIDTH, height: CHART_HEIGHT };
}
