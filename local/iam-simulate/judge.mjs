// The independent evaluator of the differential IAM test (tests/test_iam_differential.py):
// reads {"cases": [{"statements", "action", "resource", "context"}, ...]} on stdin, prints one
// JSON array of verdicts ("Allow", "Deny", "ImplicitDeny" or "error: <why>"), one per case.
// runUnsafeSimulation: no validation against the package's action and resource catalogue, so
// random policies over any action are judged by the same rules (identity policy only, same account).
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

const VERDICTS = { Allowed: 'Allow', ExplicitlyDenied: 'Deny', ImplicitlyDenied: 'ImplicitDeny' }
const PRINCIPAL = 'arn:aws:iam::123456789012:role/user-provider-role'
// KMS asks the key policy too (iam-simulate models that): the keys in KmsKeyArns are taken to
// have the default key policy, which lets the account's IAM policies decide (KMS developer
// guide, "Default key policy": "Allows access to the AWS account and enables IAM policies").
const DEFAULT_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'kms:*', Resource: '*' }
  ]
}

let input = ''
process.stdin.setEncoding('utf8')
for await (const chunk of process.stdin) input += chunk
const verdicts = []
for (const c of JSON.parse(input).cases) {
  const simulation = {
    request: {
      principal: PRINCIPAL,
      action: c.action,
      resource: { resource: c.resource, accountId: '123456789012' },
      contextVariables: c.context
    },
    identityPolicies: [{ name: 'role', policy: { Version: '2012-10-17', Statement: c.statements } }],
    serviceControlPolicies: [],
    resourceControlPolicies: []
  }
  try {
    if (c.action.toLowerCase().startsWith('kms:')) {
      // The unsafe entry point cannot take a resource policy (it loads it without a name).
      const result = await runSimulation({ ...simulation, resourcePolicy: DEFAULT_KEY_POLICY }, {})
      verdicts.push(result.resultType === 'error' ? `error: ${result.errors.message}` : VERDICTS[result.overallResult])
    } else {
      const result = runUnsafeSimulation(simulation, {})
      verdicts.push(VERDICTS[result] ?? `error: ${result}`)
    }
  } catch (e) {
    verdicts.push(`error: ${e.message}`)
  }
}
process.stdout.write(JSON.stringify(verdicts))
