/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy` (cdk.json runs this with tsx).
 * Configuration comes from context `carrel` or the JSON file named by context `carrelConfig` (lib/config.ts).
 */
import { App } from 'aws-cdk-lib';
import { addCarrelStacks } from '../lib/app.js';
import { CarrelConfigError, loadConfig } from '../lib/config.js';

const app = new App();
try {
  addCarrelStacks(app, { config: loadConfig(app.node) });
} catch (error) {
  if (error instanceof CarrelConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
