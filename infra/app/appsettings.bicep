// The settings contract: every application setting of the function app, in one place.
//
// This module deploys nothing; it only computes the settings object that app/api.bicep applies.
// Keys in `appConfig`, `modelConfig` and `searchConfig`, and `AUTH_MODE`, are exactly the
// field names of agent/settings.py `Settings`, upper-cased; tests/infra/test_settings_contract.py
// fails when the two drift apart. Keys in `platformConfig` and the Easy Auth ones in
// `authConfig` are read by the Functions host, Easy Auth and the Azure SDKs, not by `Settings`.
// No key, password or connection secret belongs here: every service is reached with the
// managed identity (AZURE_CLIENT_ID) and Microsoft Entra ID.

@description('Storage account behind AzureWebJobsStorage (identity-based connection).')
param storageAccountName string

@description('Client id of the user-assigned identity the app runs as.')
param identityClientId string

@description('Application Insights connection string (not a secret with Entra-only ingestion).')
param appInsightsConnectionString string

param openAiEndpoint string
param openAiChatDeployment string

@description('v1: the v1 API ({endpoint}/openai/v1/); a date: the classic /openai/deployments/{name} path.')
param openAiApiVersion string = 'v1'

@description('MODEL_REASONING_EFFORT; empty: not set, the deployment default applies.')
@allowed([
  ''
  'none'
  'minimal'
  'low'
  'medium'
  'high'
])
param openAiReasoningEffort string = ''

param cosmosEndpoint string
param cosmosDatabase string
param cosmosContainer string
@description('-1 (never expire) or a positive number of seconds; never 0.')
@minValue(-1)
param threadTtlSeconds int

@description('Azure AI Search endpoint; empty when search is not deployed.')
param searchEndpoint string = ''
param searchIndexes string = ''

@description('APPROVE_TOOLS: comma-separated specialists or tools whose calls wait for a person\'s decision (e.g. sqlsearch,apisearch). Empty: none.')
param approveTools string = ''

@description('Easy Auth in front of the app (app/auth.bicep): the app identifies each user.')
param authEnabled bool = false

@description('Tenant whose users may sign in (with authEnabled).')
param authTenantId string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Read by the Functions host, the Python worker and azure-identity.
var platformConfig = {
  // Host storage over the identity, blob service only, as in the Azure-Samples Flex quickstart
  // (functions-quickstart-python-http-azd): an HTTP-only app needs blobs (keys, leases); queue
  // and table URIs are for Durable Functions and some triggers, and the identity has no role
  // for them. `__accountName` would make the host derive and use all three endpoints.
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Telemetry, ingested with an Entra token for the identity (local auth is off).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Required by azurefunctions-extensions-http-fastapi (HTTP streaming) so the worker loads
  // the extension while indexing function_app.py.
  PYTHON_ENABLE_INIT_INDEXING: '1'
  // Points DefaultAzureCredential (Cosmos, OpenAI, Search clients) at the user-assigned identity.
  AZURE_CLIENT_ID: identityClientId
}

// Read by agent/settings.py.
var appConfig = {
  MODEL_PROVIDER: 'azure'
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_CHAT_DEPLOYMENT: openAiChatDeployment
  AZURE_OPENAI_API_VERSION: openAiApiVersion
  AZURE_COSMOSDB_ENDPOINT: cosmosEndpoint
  AZURE_COSMOSDB_DATABASE: cosmosDatabase
  AZURE_COSMOSDB_CONTAINER: cosmosContainer
  THREAD_TTL_SECONDS: string(threadTtlSeconds)
  // How long a streamed run's events stay in the thread store to rejoin it (items' ttl).
  RUN_EVENTS_TTL_SECONDS: '3600'
  // Tool calls a person approves first (README, "Approving tool calls"); empty: none.
  APPROVE_TOOLS: approveTools
  // The deployed package is read-only; the local docs index and the sample SQLite database
  // are built under /tmp at start-up.
  DATA_DIR: '/tmp/smartbot'
}

// Sent only when set: a reasoning effort must suit the deployed model (see docs/deploy.md).
var modelConfig = empty(openAiReasoningEffort)
  ? {}
  : {
      MODEL_REASONING_EFFORT: openAiReasoningEffort
    }

var searchConfig = empty(searchEndpoint)
  ? {}
  : {
      AZURE_SEARCH_ENDPOINT: searchEndpoint
      AZURE_SEARCH_INDEXES: searchIndexes
    }

// With Easy Auth: the app gives each signed-in user their own threads, and Easy Auth signs
// users in with the managed identity as the app registration's credential (no client secret).
var authConfig = authEnabled
  ? {
      AUTH_MODE: 'easyauth'
      OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: identityClientId
      WEBSITE_AUTH_AAD_ALLOWED_TENANTS: authTenantId
    }
  : {
      AUTH_MODE: 'none'
    }

@description('All application settings of the function app.')
output values object = union(platformConfig, appConfig, modelConfig, searchConfig, authConfig)
