/**
 * The platform engineer's CLI: `npm run admin -- <command>` (see lambdas/handlers/admin.ts for the
 * commands). Needs the deployment id (`--deployment ID` or CARREL_DEPLOYMENT), AWS credentials and the
 * deployment's region (AWS_REGION); it acts with the caller's permissions, as the desk would.
 */
import { awsAdminContext } from '../lambdas/handlers/admin-aws.js';
import { ADMIN_USAGE, runAdmin } from '../lambdas/handlers/admin.js';

const argv = process.argv.slice(2);
const flag = argv.findIndex((a) => a === '--deployment' || a.startsWith('--deployment='));
const deploymentId = flag >= 0 ? (argv[flag]!.includes('=') ? argv[flag]!.split('=')[1] : argv[flag + 1]) : process.env.CARREL_DEPLOYMENT;
const wantsHelp = argv.length === 0 || argv.includes('help') || argv.includes('--help');

if (!deploymentId && !wantsHelp) {
  console.error(`Which deployment? Pass --deployment ID or set CARREL_DEPLOYMENT.\n\n${ADMIN_USAGE}`);
  process.exitCode = 2;
} else {
  const io = { out: (line: string) => console.log(line), err: (line: string) => console.error(line) };
  process.exitCode = await runAdmin(argv, awsAdminContext({ deploymentId: deploymentId ?? '' }), io);
}
