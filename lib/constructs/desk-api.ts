/**
 * The front desk's HTTP API (API Gateway HTTP API, payload v2): the routes of docs/contracts.md, a
 * throttled `$default` stage with JSON access logs. The browser reaches it through CloudFront under
 * `/api/*` on the desk's own origin, so no CORS is configured.
 */
import { Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { EntryName } from './desk-functions.js';
import { AWS_HTTP_ROUTES, RUN_ENTRIES, type HttpRoute, type RunEntry } from '../../lambdas/handlers/routes.js';

export interface DeskRoute extends Omit<HttpRoute, 'method' | 'entry'> {
  readonly method: apigwv2.HttpMethod;
  readonly entry: (typeof AWS_HTTP_ROUTES)[number]['entry'];
}

/** The routes of lambdas/handlers/routes.ts (the table the local runtime serves too) that are deployed on AWS. */
export const DESK_ROUTES: readonly DeskRoute[] = AWS_HTTP_ROUTES.map((route) => ({ ...route, method: apigwv2.HttpMethod[route.method] }));

const AUTH_REASON: Record<DeskRoute['auth'], string> = {
  session:
    "Authenticated in the handler: it verifies the desk session JWT from the host-only HttpOnly __Host-carrel_session cookie (issued by /auth/callback after the OpenID Connect sign-in; ES256 signed by the desk's KMS key; issuer, audience, expiry) and checks analysis membership before any read or write. HTTP API JWT authorizers read only headers, not cookies, and the app has no other callers.",
  agent:
    "Authenticated in the handler: it verifies the gate's ES256 agent token (Authorization: Bearer, signed by the desk's KMS key, audience carrel-agent, expiry) and writes only to the workspace named in the token.",
  'sign-in':
    'The OpenID Connect sign-in routes are where an unauthenticated browser gets its session, so they cannot require one: /auth/login only redirects to the identity provider, /auth/callback accepts an answer only with the matching KMS-signed login-state cookie (state, nonce, PKCE) and verifies the ID token against the provider (issuer, audience, nonce, expiry, JWKS signature), /auth/logout only clears the session cookie. None reads or writes the table.',
  'task-identity':
    "Authenticated in the handler: the caller sends an sts:GetCallerIdentity request signed with its Fargate task role (SigV4, bound to this desk by a signed x-carrel-server-id header); the handler checks it is exactly that call to this region's STS, forwards it to STS, and answers only for the workspace whose task and home role STS names. IAM authorizers would need the caller to sign the API request itself with the credentials of a role granted execute-api, which workspace task roles deliberately are not.",
};

export interface DeskApiProps {
  readonly deploymentId: string;
  readonly functions: Readonly<Record<EntryName, lambda.IFunction>>;
  /** The run routes' functions (lib/constructs/enclave-desk.ts). @default - none: the run routes are not deployed (enclave disabled) */
  readonly runFunctions?: Readonly<Record<RunEntry, lambda.IFunction>>;
  /** Steady-state requests per second of the `$default` stage. */
  readonly rateLimit: number;
  /** Burst of the `$default` stage. */
  readonly burstLimit: number;
  readonly logRetention: logs.RetentionDays;
}

export class DeskApi extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /** `xxxx.execute-api.<region>.amazonaws.com`: CloudFront's origin for `/api/*`. */
  readonly domainName: string;

  constructor(scope: Construct, id: string, props: DeskApiProps) {
    super(scope, id);

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `carrel-${props.deploymentId}-desk`,
      description: `carrel ${props.deploymentId}: front desk API (reached through CloudFront /api/*)`,
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit, burstLimit: props.burstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            error: '$context.error.message',
          }),
        ),
      },
    });

    for (const route of DESK_ROUTES) {
      const isRun = (RUN_ENTRIES as readonly string[]).includes(route.entry);
      if (isRun && !props.runFunctions) continue;
      const fn = isRun ? props.runFunctions![route.entry as RunEntry] : props.functions[route.entry as EntryName];
      const routes = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration: new HttpLambdaIntegration(`${route.entry}-integration`, fn),
      });
      for (const r of routes) Validations.of(r).acknowledge({ id: 'AwsSolutions-APIG4', reason: AUTH_REASON[route.auth] });
    }

    // https://<id>.execute-api.<region>.amazonaws.com -> <id>.execute-api.<region>.amazonaws.com
    this.domainName = Fn.select(2, Fn.split('/', this.httpApi.apiEndpoint));
  }
}
