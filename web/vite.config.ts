import { defineConfig } from 'vite';

// Built into dist/, which chainwatch-server embeds (rust-embed) and serves at `/`.
export default defineConfig({
  base: '/',
  build: { outDir: 'dist', assetsDir: 'assets', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
