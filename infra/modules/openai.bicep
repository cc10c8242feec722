// Azure OpenAI account with key auth disabled, a chat deployment and (optionally) an
// embedding deployment. Access is granted in modules/openai-access.bicep, which also serves
// the bring-your-own-account case.
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
@description('Deployment SKU (deployment type) of the embedding model, for example Standard or GlobalStandard.')
param embeddingSkuName string = 'Standard'
param embeddingCapacity int = 30

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    // A custom subdomain is required for Microsoft Entra ID (token) authentication.
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource chat 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
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

resource embedding 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = if (!empty(embeddingDeploymentName)) {
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
output endpoint string = account.properties.endpoint
