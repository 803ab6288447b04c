/** Stylesheets are bundled by esbuild (see frontend/build.ts). */
declare module '*.css';
