// Optional Azure AI Search for the docsearch tool, keys disabled (Entra ID only).
//
// The service has a system-assigned identity: an index's Azure OpenAI vectorizer (and the
// embedding skill of an indexer) calls the embedding deployment with it when no API key and no
// user-assigned identity are given, which is the only way with local auth off on Azure OpenAI.
// main.bicep grants that identity "Cognitive Services OpenAI User" on the OpenAI account
// (modules/openai-access.bicep) when an embedding deployment exists.
//
// Every principal in `principals` gets "Search Index Data Reader" (query indexes: what the
// app does). The deploying user (type User) additionally gets "Search Index Data Contributor"
// and "Search Service Contributor" so they can create and fill the indexes the app reads.
param name string
param location string
param tags object = {}

@allowed([
  'basic'
  'standard'
])
param sku string = 'basic'

@description('Principals to grant: [{ id, type }].')
param principals array

var searchIndexDataReader = '1407120a-92aa-4202-b7e9-c0e197c71c8f'
var searchIndexDataContributor = '8ebe5a00-799e-43f5-93ac-243d3dce84a7'
var searchServiceContributor = '7ca78c08-252a-4471-8644-bb5ff32d4ba0'

resource search 'Microsoft.Search/searchServices@2023-11-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    replicaCount: 1
    partitionCount: 1
    hostingMode: 'default'
    publicNetworkAccess: 'enabled'
    disableLocalAuth: true
    // Semantic ranker (the docsearch tool uses a semantic configuration and reranker score).
    semanticSearch: 'free'
  }
}

resource readerRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(search.id, principal.id, searchIndexDataReader)
    scope: search
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', searchIndexDataReader)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

var users = filter(principals, p => p.type == 'User')

resource indexWriterRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for user in users: {
    name: guid(search.id, user.id, searchIndexDataContributor)
    scope: search
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', searchIndexDataContributor)
      principalId: user.id
      principalType: user.type
    }
  }
]

resource indexAdminRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for user in users: {
    name: guid(search.id, user.id, searchServiceContributor)
    scope: search
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', searchServiceContributor)
      principalId: user.id
      principalType: user.type
    }
  }
]

output name string = search.name
output endpoint string = 'https://${search.name}.search.windows.net'
@description('Principal id of the service\'s system-assigned identity (used by integrated vectorization).')
output principalId string = search.identity.principalId
