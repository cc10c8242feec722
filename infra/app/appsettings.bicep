// The settings contract: every application setting of the function app, in one place.
//
// This module deploys nothing; it only computes the settings object that app/api.bicep applies.
// Keys in `appConfig`, `embeddingConfig` and `searchConfig` are exactly the field names of
// agent/settings.py `Settings`, upper-cased; tests/infra/test_settings_contract.py fails when
// the two drift apart. Keys in `platformConfig` are read by the Functions host and the Azure
// SDKs, not by `Settings`. No key, password or connection secret belongs here: every service
// is reached with the managed identity (AZURE_CLIENT_ID) and Microsoft Entra ID.

@description('Storage account behind AzureWebJobsStorage (identity-based connection).')
param storageAccountName string

@description('Client id of the user-assigned identity the app runs as.')
param identityClientId string

@description('Application Insights connection string (not a secret with Entra-only ingestion).')
param appInsightsConnectionString string

param openAiEndpoint string
param openAiChatDeployment string
param openAiEmbeddingDeployment string = ''
param openAiApiVersion string

param cosmosEndpoint string
param cosmosDatabase string
param cosmosContainer string
param threadTtlSeconds int

@description('Azure AI Search endpoint; empty when search is not deployed.')
param searchEndpoint string = ''
param searchIndexes string = ''

// Read by the Functions host, the Python worker and azure-identity.
var platformConfig = {
  // Host storage over the identity: account name + managed identity, no connection string.
  AzureWebJobsStorage__accountName: storageAccountName
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
  // The deployed package is read-only; the local docs index and the sample SQLite database
  // are built under /tmp at start-up.
  DATA_DIR: '/tmp/smartbot'
}

var embeddingConfig = empty(openAiEmbeddingDeployment)
  ? {}
  : {
      AZURE_OPENAI_EMBEDDING_DEPLOYMENT: openAiEmbeddingDeployment
    }

var searchConfig = empty(searchEndpoint)
  ? {}
  : {
      AZURE_SEARCH_ENDPOINT: searchEndpoint
      AZURE_SEARCH_INDEXES: searchIndexes
    }

@description('All application settings of the function app.')
output values object = union(platformConfig, appConfig, embeddingConfig, searchConfig)
