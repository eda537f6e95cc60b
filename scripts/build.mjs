// `npm run build`: compiles src/, commands/, migrations/ (and demo/ with the emulator/ it runs) to dist/ with tsc (relative `.ts` imports become
// `.js`), copies the widget, bundles the CLI with esbuild into dist/bundle/, and stamps the build. bin/blogcord.js runs
// the bundle while the build is newer than every source file, and the TypeScript sources through tsx otherwise, so a
// stale build is never run.
//
// Why a bundle: the CLI loads ~900 module files from the tsc output and node_modules (kysely alone is 263 ES modules,
// zod 95), each resolved, read, parsed and kept with its source. One minified bundle, split into chunks at the dynamic
// imports so each role still loads only what it runs, starts about twice as fast and keeps less in memory
// (docs/benchmarks.md). Native addons (better-sqlite3, @napi-rs/canvas) and the libraries loaded by a synchronous
// require when first used (src/lazy-require.ts: pg, feedsmith, undici 7, iconv-lite, chart.js) stay in node_modules, but for
// sanitize-html and discord-markdown-parser, which are bundled apart into dist/bundle/vendor/ (below).
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
cpSync(new URL('../src/http/widget/', import.meta.url), new URL('../dist/src/http/widget/', import.meta.url), { recursive: true });
// dist/ is ESM like the sources.
writeFileSync(new URL('../dist/package.json', import.meta.url), '{ "type": "module" }\n');

const migrations = readdirSync(new URL('../migrations/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();

/** Every output file is in dist/bundle/: a project module's `import.meta.url` becomes the URL of its tsc-built twin in dist/, so the files it reads beside itself (the widget) are found. */
const projectUrls = {
  name: 'blogcord-bundle',
  setup(b) {
    // discord.js and @discordjs/rest each have their own copy of undici 6 (the same version, not deduplicated by
    // npm next to blogcord's undici 7): one copy in the bundle, not two (~0.4 MB of code fewer to compile).
    const discordUndici = createRequire(createRequire(import.meta.url).resolve('discord.js')).resolve('undici');
    b.onResolve({ filter: /^undici$/ }, (args) => (/node_modules[\\/](discord\.js|@discordjs)[\\/]/.test(args.importer) ? { path: discordUndici } : undefined));
    b.onLoad({ filter: /[\\/]src[\\/]db[\\/]bundled-migrations\.ts$/ }, () => ({
      loader: 'ts',
      resolveDir: fileURLToPath(new URL('../src/db/', import.meta.url)),
      contents:
        migrations.map((f, i) => `import * as m${i} from '../../migrations/${f}';`).join('\n') +
        `\nexport const bundledMigrations = { getMigrations: async () => ({ ${migrations
          .map((f, i) => `${JSON.stringify(f.replace(/\.ts$/, ''))}: m${i}`)
          .join(', ')} }) };\n`,
    }));
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes('node_modules')) return undefined;
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return { loader: 'ts', contents: source };
      const twin = relative(root, args.path).replaceAll('\\', '/').replace(/\.ts$/, '.js');
      return { loader: 'ts', contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(`../${twin}`)}, import.meta.url).href`) };
    });
  },
};

const bundled = await build({
  entryPoints: { main: 'src/main.ts' },
  absWorkingDir: root,
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // Stack traces keep the project's own function names.
  keepNames: true,
  // BUILD_SOURCEMAP=1: a .map beside each chunk (not referenced from the code, so nothing changes at run time), to
  // attribute a CPU profile of the bundle (BENCH_PROFILE) to the source files.
  ...(process.env.BUILD_SOURCEMAP ? { sourcemap: 'external' } : {}),
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  external: [
    'better-sqlite3',
    '@napi-rs/canvas',
    // Optional peers of pg, ws and discord.js that are not installed.
    'pg-native',
    'zlib-sync',
    'bufferutil',
    'utf-8-validate',
    // The sources' loader (bin/blogcord.js), never part of the build.
    'tsx',
  ],
  // CommonJS libraries inside the bundle still require Node's modules and their own files.
  banner: {
    js: "import { createRequire as __blogcordRequire } from 'node:module'; import { fileURLToPath as __blogcordPath } from 'node:url'; const require = __blogcordRequire(import.meta.url); const __filename = __blogcordPath(import.meta.url); const __dirname = __blogcordPath(new URL('.', import.meta.url));",
  },
  plugins: [projectUrls],
  // dist/bundle-meta.json: which module went into which chunk, and how big it is (what a role loads: docs/benchmarks.md).
  metafile: true,
});
writeFileSync(new URL('../dist/bundle-meta.json', import.meta.url), JSON.stringify(bundled.metafile));

// The libraries of src/vendored.json, which src/lazy-require.ts requires at their first use: each bundled into one
// minified CommonJS file (dist/bundle/vendor/NAME.cjs) that it requires instead of the library's files in node_modules.
const VENDORED = JSON.parse(readFileSync(new URL('../src/vendored.json', import.meta.url), 'utf8'));
const requireRoot = createRequire(import.meta.url);
await build({
  entryPoints: VENDORED.map((name) => ({ in: requireRoot.resolve(name), out: name })),
  absWorkingDir: root,
  outdir: 'dist/bundle/vendor',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
});

// The stamp is written last, so an interrupted build is never taken as fresh.
writeFileSync(new URL('../dist/.built', import.meta.url), `${new Date().toISOString()}\n`);
console.log('built dist/');
