/**
 * The front desk's static site: a private S3 bucket behind CloudFront with origin access control, SPA
 * routing, security headers, `/api/*` and `/auth/*` (the sign-in) to the HTTP API, and access logs for both.
 */
import { existsSync, statSync } from 'node:fs';
import { Annotations, DefaultStackSynthesizer, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';

/**
 * CloudFront Function (cloudfront-js-2.0, viewer request): paths of the single-page app such as
 * `/a/<analysisId>` or `/review` (no file extension in the last segment) are served `/index.html`;
 * files (`/assets/app.js`) pass through. `/api/*` has its own behavior and never runs this.
 */
export const SPA_REWRITE_FUNCTION = `function handler(event) {
  var request = event.request;
  var uri = request.uri;
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}`;

/** Folder of the build's content-hashed files (frontend/build.ts names them assets/<name>.<hash>.<ext>). */
export const HASHED_ASSETS_PREFIX = 'assets/';

export interface DeskSiteProps {
  readonly deploymentId: string;
  /** The desk's domain: an alternate name of the distribution when `certificateArn` is set; workspaces are `ws-*.<deskDomain>`. */
  readonly deskDomain: string;
  /** ACM certificate (us-east-1) for `deskDomain`. @default - the distribution's *.cloudfront.net name */
  readonly certificateArn?: string;
  /** Zone to publish `deskDomain` in (with `certificateArn`). @default - no DNS record */
  readonly hostedZone?: { readonly zoneId: string; readonly zoneName: string };
  /** Domain of the HTTP API (`<id>.execute-api.<region>.amazonaws.com`), the `/api/*` origin. */
  readonly apiDomainName: string;
  /**
   * Folder with the built site (`npx tsx frontend/build.ts` writes dist/frontend). Deployed when it exists;
   * when it does not, the bucket is left as it is and synth warns. @default - nothing deployed
   */
  readonly assetDir?: string;
  /** Days to keep access logs. */
  readonly logRetentionDays: number;
}

export class DeskSite extends Construct {
  readonly bucket: s3.Bucket;
  readonly logBucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** Deploys the entry files (index.html ...), revalidated on every use; absent when the site is not built. */
  readonly deployment?: s3deploy.BucketDeployment;
  /** Deploys the content-hashed files under assets/, cached for a year; absent when the site is not built. */
  readonly assetsDeployment?: s3deploy.BucketDeployment;

  constructor(scope: Construct, id: string, props: DeskSiteProps) {
    super(scope, id);

    this.logBucket = new s3.Bucket(this, 'LogBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront standard logs are delivered with an ACL grant, which needs ACLs enabled on this bucket.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(props.logRetentionDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'site-bucket/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const spaRewrite = new cloudfront.Function(this, 'SpaRewrite', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'Serve /index.html for single-page app paths such as /a/<analysisId>',
      code: cloudfront.FunctionCode.fromInline(SPA_REWRITE_FUNCTION),
    });

    const headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: `carrel ${props.deploymentId}: security headers of the front desk`,
      securityHeadersBehavior: {
        strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        contentSecurityPolicy: {
          // The desk frames its workspaces (https://ws-<id>.<deskDomain>) and is framed by nobody.
          contentSecurityPolicy: [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            `frame-src https://*.${props.deskDomain}`,
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
          ].join('; '),
          override: true,
        },
      },
    });

    const certificate = props.certificateArn ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn) : undefined;

    const apiBehavior: cloudfront.BehaviorOptions = {
      origin: new origins.HttpOrigin(props.apiDomainName, {
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      }),
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      // Cookies, query strings and headers reach the API; Host must be the API's own for API Gateway to route.
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      responseHeadersPolicy: headers,
      compress: true,
    };

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `carrel ${props.deploymentId} front desk`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        functionAssociations: [{ eventType: cloudfront.FunctionEventType.VIEWER_REQUEST, function: spaRewrite }],
        compress: true,
      },
      // The API and the sign-in routes (`/auth/*` are pages the browser navigates to) both go to the HTTP API.
      additionalBehaviors: Object.fromEntries(['/api/*', '/auth/*'].map((pattern) => [pattern, apiBehavior])),
      ...(certificate ? { certificate, domainNames: [props.deskDomain], minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 } : {}),
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
    });
    // Viewer TLS: with a certificate the distribution requires TLSv1.2_2021. Geo restriction and WAF are
    // deployment choices the configuration does not make for the organisation.
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason:
          'No geo restriction: researchers work from wherever their institution allows; every request is authenticated by the SSO session, and an organisation can add a geo restriction where its data-access agreement requires one.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'No WAF web ACL by default: the site serves static files and an API whose every route authenticates (session JWT or agent token) and is throttled at the API stage; an organisation attaches its own WAF web ACL where it runs one.',
      },
    );
    if (!certificate) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'No certificateArn is configured, so the distribution uses the default *.cloudfront.net certificate, for which CloudFront does not allow choosing a minimum viewer TLS version. Setting certificateArn (required for a real desk domain) enforces TLSv1.2_2021.',
      });
      Annotations.of(this).addWarningV2(
        'carrel:site:no-certificate',
        `No certificateArn configured: the desk is served on its *.cloudfront.net name, not ${props.deskDomain}, and gate cookies for ${props.deskDomain} will not work. Set carrel.certificateArn and carrel.hostedZone for a real deployment.`,
      );
    }

    if (certificate && props.hostedZone) {
      const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
        hostedZoneId: props.hostedZone.zoneId,
        zoneName: props.hostedZone.zoneName,
      });
      const target = route53.RecordTarget.fromAlias(new route53targets.CloudFrontTarget(this.distribution));
      new route53.ARecord(this, 'AliasA', { zone, recordName: props.deskDomain, target });
      new route53.AaaaRecord(this, 'AliasAAAA', { zone, recordName: props.deskDomain, target });
    }

    if (props.assetDir && existsSync(props.assetDir) && statSync(props.assetDir).isDirectory()) {
      const deploymentLogs = new logs.LogGroup(this, 'DeploymentLogs', {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const source = s3deploy.Source.asset(props.assetDir);
      // The build's scripts and styles have content-hashed names (assets/<name>.<hash>.js): cached for a
      // year and never pruned, so a page loaded before a deployment can still fetch its own files.
      this.assetsDeployment = new s3deploy.BucketDeployment(this, 'AssetsDeployment', {
        sources: [source],
        destinationBucket: this.bucket,
        exclude: ['*'],
        include: [`${HASHED_ASSETS_PREFIX}*`],
        prune: false,
        memoryLimit: 512,
        logGroup: deploymentLogs,
        cacheControl: [s3deploy.CacheControl.setPublic(), s3deploy.CacheControl.maxAge(Duration.days(365)), s3deploy.CacheControl.immutable()],
      });
      // Everything else (index.html, favicon) is revalidated on every use (a 304 from S3 when unchanged),
      // so a deployment is live at once without a CloudFront invalidation, whose IAM action would need
      // Resource "*" in the CDK-provided deployment role. Deployed after the hashed files it refers to.
      this.deployment = new s3deploy.BucketDeployment(this, 'Deployment', {
        sources: [source],
        destinationBucket: this.bucket,
        exclude: [`${HASHED_ASSETS_PREFIX}*`],
        prune: true,
        memoryLimit: 512,
        logGroup: deploymentLogs,
        cacheControl: [s3deploy.CacheControl.setPublic(), s3deploy.CacheControl.maxAge(Duration.seconds(0)), s3deploy.CacheControl.mustRevalidate()],
      });
      this.deployment.node.addDependency(this.assetsDeployment);
      acknowledgeBucketDeployment(this);
    } else {
      Annotations.of(this).addWarningV2(
        'carrel:site:no-assets',
        `The front desk is not built (${props.assetDir ?? 'no asset folder given'} does not exist): the site bucket is deployed empty. Run \`npx tsx frontend/build.ts\` before \`npx cdk deploy\`.`,
      );
    }
  }
}

/**
 * BucketDeployment runs a CDK-provided singleton Lambda (one per stack) that copies the built site into
 * the bucket during deployments. Its findings are acknowledged on that singleton only, one by one.
 */
function acknowledgeBucketDeployment(site: DeskSite): void {
  const stack = Stack.of(site);
  const handler = stack.node.children.find((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
  if (!handler) return;
  const qualifier = (stack.node.tryGetContext('@aws-cdk/core:bootstrapQualifier') as string | undefined) ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  const siteBucket = stack.getLogicalId(site.bucket.node.defaultChild as s3.CfnBucket);
  const provider = 'CDK BucketDeployment provider (a CDK-managed Lambda that runs only while CloudFormation deploys the site):';
  const ack = (id: string, reason: string) => Validations.of(handler).acknowledge({ id, reason: `${provider} ${reason}` });

  ack(
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'aws-cdk-lib gives it the AWS managed basic execution role, which only allows writing its own CloudWatch logs.',
  );
  ack(
    'AwsSolutions-L1',
    'aws-cdk-lib chooses and updates its Python runtime together with the AWS CLI layer it bundles; it is not application code and upgrades with aws-cdk-lib.',
  );
  for (const action of ['s3:GetBucket*', 's3:GetObject*', 's3:List*']) {
    ack(`AwsSolutions-IAM5[Action::${action}]`, `reads the built site from the CDK bootstrap asset bucket and lists the site bucket to prune old files; ${action} is how aws-cdk-lib grants read access, limited to those two buckets.`);
  }
  for (const action of ['s3:Abort*', 's3:DeleteObject*']) {
    ack(`AwsSolutions-IAM5[Action::${action}]`, `replaces the files of the site bucket (aborting failed multipart uploads, deleting files the new build no longer has); ${action} is granted on the site bucket only.`);
  }
  ack(
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-${qualifier}-assets-<AWS::AccountId>-<AWS::Region>/*]`,
    'reads the zipped site from the objects of the CDK bootstrap asset bucket of this account and region (object keys are content hashes, so the objects are addressed by prefix).',
  );
  ack(`AwsSolutions-IAM5[Resource::<${siteBucket}.Arn>/*]`, 'writes and prunes the objects of the site bucket, whose keys are the files of the build.');
}
