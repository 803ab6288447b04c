/** Lambda entry point: EventBridge: compute state changes → handleComputeEvent. See docs/contracts.md. */
import { makeComputeEventsHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { awsCompute } from '../aws-parts/compute.js';
import { awsComputeEventSources } from '../aws-parts/compute-events.js';
import { route53Hostnames } from '../aws-parts/hostnames.js';
import { lambdaProvisioner } from '../aws-parts/provisioner.js';

// Maps the raw event, assigns the hostname, hands EC2 instances to the provisioner; a failure cleans up.
export const handler = awsHandler(makeComputeEventsHandler, {
  compute: awsCompute(),
  hostnames: route53Hostnames(),
  provisioner: lambdaProvisioner(),
  computeEventSources: awsComputeEventSources(),
});
