import { join } from 'node:path';

/**
 * How a local workspace runs Jupyter Notebook: its arguments and environment. The compute adapter
 * and the "Jupyter alone" benchmark both start it this way, so the two stay comparable.
 */
export function jupyterLaunch(options: { port: number; notebookDir: string; token: string; stateDir: string }) {
  const args = [
    '--no-browser',
    '--ip=127.0.0.1',
    `--port=${options.port}`,
    '--port-retries=0',
    `--notebook-dir=${options.notebookDir}`,
    `--NotebookApp.token=${options.token}`,
    "--NotebookApp.password=''",
    // The gate, not the tool, decides who may connect; the tool sees workspace host names.
    '--NotebookApp.allow_remote_access=True',
    ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
  ];
  const env = {
    PATH: process.env.PATH,
    LANG: process.env.LANG ?? 'C.UTF-8',
    HOME: options.notebookDir,
    JUPYTER_RUNTIME_DIR: join(options.stateDir, 'runtime'),
    JUPYTER_CONFIG_DIR: join(options.stateDir, 'jupyter-config'),
    JUPYTER_DATA_DIR: join(options.stateDir, 'jupyter-data'),
    IPYTHONDIR: join(options.stateDir, 'ipython'),
  };
  return { args, env };
}
