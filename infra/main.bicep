// Smartbot on Azure Functions (Flex Consumption), keyless end to end.
//
// `azd up` deploys this file at subscription scope: it creates a resource group and composes
// one module per concern. Every data-plane call the app makes uses Microsoft Entra ID through
// a user-assigned managed identity; no key or connection secret is written to app settings.
// The app settings themselves are defined in one place, app/appsettings.bicep (the settings
// contract that tests/infra/test_settings_contract.py checks against agent/settings.py).
targetScope = 'subscription'

// --- azd-provided --------------------------------------------------------------------------
@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used for the resource group name and the unique resource token.')
param environmentName string

@minLength(1)
@description('Region for every resource. Must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID). Gets the same data roles as the app so the app also runs locally against these resources. Empty: no user roles.')
param principalId string = ''

@description('Principal type of principalId: User for a person, ServicePrincipal for a CI identity.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

// --- Function app ------------------------------------------------------------------------
@description('Python version of the Flex Consumption runtime. 3.13 is the version the project tests and deploys (runtime versioning via azure-functions-runtime, faster cold start); 3.11 and 3.12 are what requirements.txt also installs on.')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Memory per instance in MB (CPU scales with it).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of instances the plan may scale out to (caps cost under load).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('HTTP requests one instance serves at once. See app/api.bicep and docs/deploy.md for why 16.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Comma-separated browser origins allowed by CORS (for example https://app.contoso.com). Empty: CORS off; server-to-server callers are unaffected.')
param corsAllowedOrigins string = ''

// --- Cosmos DB (thread memory) ---------------------------------------------------------------
@description('Serverless Cosmos DB (pay per request). false: provisioned autoscale throughput on the database.')
param cosmosServerless bool = true

@description('Autoscale max RU/s for the database when cosmosServerless is false.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

param cosmosDatabaseName string = 'smartbot'
param cosmosContainerName string = 'threads'

// Thread expiry is two parameters because the app accepts -1 (never) or a positive number of
// seconds, and a single int parameter can only be bounded, not told "anything but 0".
@description('Whether conversation threads expire. false: they live forever (THREAD_TTL_SECONDS=-1) and threadTtlSeconds is ignored.')
param threadsExpire bool = true

@description('Seconds a conversation thread lives after its last write when threadsExpire is true. Sent to the app as THREAD_TTL_SECONDS; the app writes it as the per-item ttl.')
@minValue(1)
param threadTtlSeconds int = 2592000

// --- Azure OpenAI ------------------------------------------------------------------------------
@description('Name of an existing Azure OpenAI or Foundry account (kind OpenAI or AIServices) to use instead of creating one; it is only read, never re-provisioned. Empty: create a Foundry account. Requires openAiExistingResourceGroupName.')
param openAiExistingAccountName string = ''

@description('Resource group of openAiExistingAccountName, in this subscription. Required when openAiExistingAccountName is set (the deployment stops with an error naming OPENAI_EXISTING_RESOURCE_GROUP otherwise); ignored when this template creates the account.')
param openAiExistingResourceGroupName string = ''

@description('Region of the model account created here (model availability differs by region). Empty: location.')
param openAiLocation string = ''

// The default chat model is one that is generally available for new deployments on
// 2026-11-26 per Microsoft's model retirement schedule (docs/deploy.md cites the page and what
// it said). Model availability and quota differ by region: check them before `azd up`.
@description('Name of the chat deployment (created here, or existing in openAiExistingAccountName). Defaults to the name the app uses when AZURE_OPENAI_CHAT_DEPLOYMENT is unset.')
param openAiChatDeploymentName string = 'gpt-5.4-mini'

@description('Model of the chat deployment created here.')
param openAiChatModelName string = 'gpt-5.4-mini'

@description('Version of openAiChatModelName.')
param openAiChatModelVersion string = '2026-03-17'

@description('Deployment SKU (deployment type) of the chat model, for example GlobalStandard, DataZoneStandard or Standard.')
param openAiChatSkuName string = 'GlobalStandard'

@description('Chat capacity in thousands of tokens per minute.')
@minValue(1)
param openAiChatCapacity int = 30

@description('AZURE_OPENAI_API_VERSION of the app: v1 = the v1 API ({endpoint}/openai/v1/, no api-version); a date (for example 2024-10-21) = the classic /openai/deployments/{name} path.')
param openAiApiVersion string = 'v1'

// Empty = the app sends no reasoning_effort and the deployment uses its own default (none for
// gpt-5.1 and later). On /chat/completions, gpt-5.2/5.4/5.5 deployments reject a request with
// both function tools (every specialist sends them) and a reasoning_effort; gpt-5.6 ones need
// 'none' there. See docs/deploy.md, "Model settings".
@description('MODEL_REASONING_EFFORT of the app, sent as reasoning_effort. Empty: not set (the deployment default). Must suit the chat model: see docs/deploy.md.')
@allowed([
  ''
  'none'
  'minimal'
  'low'
  'medium'
  'high'
])
param openAiReasoningEffort string = ''

// The app itself never calls it: an Azure AI Search index's vectorizer does, with the search
// service's identity (modules/openai-access.bicep), so it is a deployment, not an app setting.
@description('Name of an embedding deployment to create for an Azure AI Search integrated vectorizer (optional). Empty: none.')
param openAiEmbeddingDeploymentName string = ''
param openAiEmbeddingModelName string = 'text-embedding-3-small'
param openAiEmbeddingModelVersion string = '1'

// GlobalStandard: Standard (regional) is not offered for text-embedding-3-small in several
// regions (Microsoft's model availability tables; docs/deploy.md).
@description('Deployment SKU (deployment type) of the embedding model: GlobalStandard, or DataZoneStandard or Standard where the region offers them.')
param openAiEmbeddingSkuName string = 'GlobalStandard'

@minValue(1)
param openAiEmbeddingCapacity int = 30

// --- Azure AI Search (optional) ----------------------------------------------------------------
@description('Create an Azure AI Search service for the docsearch tool.')
param searchEnabled bool = false

@allowed([
  'basic'
  'standard'
])
param searchSku string = 'basic'

@description('Comma-separated index names the docsearch tool queries (you create and fill them; see docs/deploy.md).')
param searchIndexes string = ''

// --- Tool calls a person approves first (optional) ---------------------------------------------
@description('APPROVE_TOOLS of the app: comma-separated specialists (sqlsearch, apisearch, ...) or tools (sql_query, ...) whose calls wait for a person\'s decision before they run. Empty: none.')
param approveTools string = ''

// --- Sign-in (optional) -----------------------------------------------------------------------
@description('Require a Microsoft Entra ID user on the API (App Service Authentication, "Easy Auth") and give each user their own threads (AUTH_MODE=easyauth). Needs authClientId: the app registration of docs/deploy.md, "Sign-in".')
param authEnabled bool = false

@description('Application (client) id of the Entra ID app registration users sign in to. Required when authEnabled.')
param authClientId string = ''

@description('Tenant of the app registration. Empty: the tenant of this subscription.')
param authTenantId string = ''

// --- Names ------------------------------------------------------------------------------------
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
// Blob container the Flex Consumption platform deploys the zipped app package from.
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var createOpenAi = empty(openAiExistingAccountName)
var openAiAccountName = createOpenAi ? 'oai-${resourceToken}' : openAiExistingAccountName
// A new account lives in the group this template creates. An existing one lives wherever its
// owner put it, which this template cannot guess: its group must be given.
var openAiResourceGroupName = createOpenAi
  ? rg.name
  : (empty(openAiExistingResourceGroupName)
      ? fail('OPENAI_EXISTING_ACCOUNT_NAME is set but OPENAI_EXISTING_RESOURCE_GROUP is empty: set it to the resource group of the existing Azure OpenAI account.')
      : openAiExistingResourceGroupName)
// -1 (never expire) or a positive number of seconds: never 0, which the app refuses.
var threadTtlSetting = threadsExpire ? threadTtlSeconds : -1
// The search service calls the embedding deployment itself (integrated vectorizer) with its own
// identity, so it needs the OpenAI role too; without an embedding deployment it never does.
var searchCallsOpenAi = searchEnabled && !empty(openAiEmbeddingDeploymentName)
var authTenant = empty(authTenantId) ? tenant().tenantId : authTenantId
// Easy Auth without an app registration would lock every caller out: stop with what to set.
var authClient = authEnabled && empty(authClientId)
  ? fail('AUTH_ENABLED is true but AUTH_CLIENT_ID is empty: set it to the application (client) id of the app registration (docs/deploy.md, "Sign-in").')
  : authClientId

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

// --- Identity ----------------------------------------------------------------------------------
// The app's only credential. AZURE_CLIENT_ID (app/appsettings.bicep) points
// DefaultAzureCredential at it; every data role below is granted to it.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

// The principals that get data-plane roles: the app's identity always, the deploying user
// when azd knows who it is (so `func start` on a laptop reaches the same resources).
var dataPrincipals = concat(
  [
    {
      id: identity.outputs.principalId
      type: 'ServicePrincipal'
    }
  ],
  empty(principalId)
    ? []
    : [
        {
          id: principalId
          type: principalType
        }
      ]
)

// --- Monitoring ----------------------------------------------------------------------------------
module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.7.0' = {
  name: 'logAnalytics'
  scope: rg
  params: {
    name: 'log-${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module appInsights 'br/public:avm/res/insights/component:0.4.1' = {
  name: 'appInsights'
  scope: rg
  params: {
    name: 'appi-${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    // Entra-only ingestion: telemetry is accepted only with a token for an identity that has
    // Monitoring Metrics Publisher (app/rbac.bicep); the connection string alone is not enough.
    disableLocalAuth: true
  }
}

// --- Deployment storage / AzureWebJobsStorage -----------------------------------------------------
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity-based access only
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: deploymentContainerName
        }
      ]
    }
  }
}

// --- Thread memory ---------------------------------------------------------------------------------
module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    principals: dataPrincipals
  }
}

// --- Models ----------------------------------------------------------------------------------------
module openAi 'modules/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: openAiAccountName
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    chatDeploymentName: openAiChatDeploymentName
    chatModelName: openAiChatModelName
    chatModelVersion: openAiChatModelVersion
    chatSkuName: openAiChatSkuName
    chatCapacity: openAiChatCapacity
    embeddingDeploymentName: openAiEmbeddingDeploymentName
    embeddingModelName: openAiEmbeddingModelName
    embeddingModelVersion: openAiEmbeddingModelVersion
    embeddingSkuName: openAiEmbeddingSkuName
    embeddingCapacity: openAiEmbeddingCapacity
  }
}

// Role assignments on the account (new or existing) and its endpoint; runs in the account's group.
module openAiAccess 'modules/openai-access.bicep' = {
  name: 'openai-access'
  scope: resourceGroup(openAiResourceGroupName)
  params: {
    accountName: openAiAccountName
    principals: dataPrincipals
    searchPrincipalId: searchCallsOpenAi ? search.outputs.principalId : ''
  }
  dependsOn: [
    rg
    openAi
  ]
}

// --- Optional Azure AI Search -------------------------------------------------------------------
module search 'modules/search.bicep' = if (searchEnabled) {
  name: 'search'
  scope: rg
  params: {
    name: 'srch-${resourceToken}'
    location: location
    tags: tags
    sku: searchSku
    principals: dataPrincipals
  }
}

// --- Platform roles (storage, telemetry) ---------------------------------------------------------
module platformRoles 'app/rbac.bicep' = {
  name: 'platform-roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: appInsights.outputs.name
    principals: dataPrincipals
  }
}

// --- The settings contract and the app ------------------------------------------------------------
module appSettings 'app/appsettings.bicep' = {
  name: 'appsettings'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    identityClientId: identity.outputs.clientId
    appInsightsConnectionString: appInsights.outputs.connectionString
    openAiEndpoint: openAiAccess.outputs.endpoint
    openAiChatDeployment: openAiChatDeploymentName
    openAiApiVersion: openAiApiVersion
    openAiReasoningEffort: openAiReasoningEffort
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    cosmosContainer: cosmos.outputs.containerName
    threadTtlSeconds: threadTtlSetting
    approveTools: approveTools
    searchEndpoint: searchEnabled ? search.outputs.endpoint : ''
    searchIndexes: searchEnabled ? searchIndexes : ''
    authEnabled: authEnabled
    authTenantId: authTenant
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-${resourceToken}'
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true // Linux
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: union(tags, {
      'azd-service-name': 'api'
    })
    planId: plan.outputs.resourceId
    identityId: identity.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    corsAllowedOrigins: empty(corsAllowedOrigins) ? [] : map(split(corsAllowedOrigins, ','), o => trim(o))
    appSettings: appSettings.outputs.values
  }
  dependsOn: [
    // The app starts only once its identity can reach storage and ingest telemetry.
    platformRoles
  ]
}

// Easy Auth in front of the app (after the app and its settings exist).
module auth 'app/auth.bicep' = if (authEnabled) {
  name: 'auth'
  scope: rg
  params: {
    siteName: api.outputs.name
    clientId: authClient
    tenantId: authTenant
  }
}

// --- Outputs: azd writes these into .azure/<env>/.env; `azd env get-values` prints them. -----------
// Names that match app settings are exactly the names agent/settings.py reads, so the same
// values configure a local run against the deployed resources (see docs/deploy.md).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_URL string = api.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
// The subject of the app registration's federated identity credential (docs/deploy.md, "Sign-in").
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = appInsights.outputs.name
output MODEL_PROVIDER string = 'azure'
output AZURE_OPENAI_ENDPOINT string = openAiAccess.outputs.endpoint
output AZURE_OPENAI_CHAT_DEPLOYMENT string = openAiChatDeploymentName
// Not an app setting (the app never calls it): the deployment a search vectorizer is given.
output AZURE_OPENAI_EMBEDDING_DEPLOYMENT_NAME string = openAiEmbeddingDeploymentName
output AZURE_OPENAI_API_VERSION string = openAiApiVersion
output MODEL_REASONING_EFFORT string = openAiReasoningEffort
output AZURE_COSMOSDB_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_COSMOSDB_ACCOUNT_NAME string = cosmos.outputs.name
output AZURE_COSMOSDB_DATABASE string = cosmos.outputs.databaseName
output AZURE_COSMOSDB_CONTAINER string = cosmos.outputs.containerName
output THREAD_TTL_SECONDS int = threadTtlSetting
output RUN_EVENTS_TTL_SECONDS int = 3600
output AZURE_SEARCH_ENDPOINT string = searchEnabled ? search.outputs.endpoint : ''
output AZURE_SEARCH_INDEXES string = searchEnabled ? searchIndexes : ''
output APPROVE_TOOLS string = approveTools
