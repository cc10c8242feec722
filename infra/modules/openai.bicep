// The model account with key auth disabled, a chat deployment and (optionally) an embedding
// deployment. Access is granted in modules/openai-access.bicep, which also serves the
// bring-your-own-account case.
//
// The account is a Microsoft Foundry resource (kind AIServices, project management on), not a
// classic Azure OpenAI one (kind OpenAI). Microsoft upgrades existing Azure OpenAI accounts to
// Foundry in place (same name, endpoint, identity, roles and deployments); a template that
// still declared kind OpenAI would, on the next `azd provision`, ask ARM to change the kind of
// an upgraded account back (a rollback, or UpdateKindNotAllowed). Declaring what the upgrade
// produces keeps re-provisioning a no-op for an upgraded account, and upgrades an account made
// by an earlier version of this template the supported way. The OpenAI data plane, the
// `https://<name>.openai.azure.com/` endpoint and the "Cognitive Services OpenAI User" role
// work the same on both kinds. docs/deploy.md, "The model account: a Foundry resource".
param name string
param location string
param tags object = {}

param chatDeploymentName string
param chatModelName string
param chatModelVersion string
param chatSkuName string = 'GlobalStandard'
@description('Thousands of tokens per minute.')
param chatCapacity int

@description('Empty: no embedding deployment.')
param embeddingDeploymentName string = ''
param embeddingModelName string = 'text-embedding-3-small'
param embeddingModelVersion string = '1'
@description('Deployment SKU (deployment type) of the embedding model: GlobalStandard (offered in most regions), or DataZoneStandard or Standard where the region has them.')
param embeddingSkuName string = 'GlobalStandard'
param embeddingCapacity int = 30

// 2025-06-01: a GA API version that has allowProjectManagement (2024-10-01 does not).
resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'AIServices'
  sku: {
    name: 'S0'
  }
  properties: {
    // A custom subdomain is required for Microsoft Entra ID (token) authentication.
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    // What the Foundry upgrade sets; false here would undo part of it on an upgraded account.
    allowProjectManagement: true
  }
}

resource chat 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: chatDeploymentName
  sku: {
    name: chatSkuName
    capacity: chatCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: chatModelName
      version: chatModelVersion
    }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
}

resource embedding 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = if (!empty(embeddingDeploymentName)) {
  parent: account
  name: empty(embeddingDeploymentName) ? 'unused' : embeddingDeploymentName
  sku: {
    name: embeddingSkuName
    capacity: embeddingCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: embeddingModelName
      version: embeddingModelVersion
    }
  }
  // Deployments of one account are created one at a time.
  dependsOn: [
    chat
  ]
}

output name string = account.name
