// Thread memory: Cosmos DB for NoSQL with local (key) auth disabled.
//
// Creates the database and the threads container (partition key /thread_id, TTL on with no
// default expiry: defaultTtl -1 lets each item carry its own `ttl`, which the app sets from
// THREAD_TTL_SECONDS), and grants "Cosmos DB Built-in Data Contributor" (a Cosmos SQL role,
// not an ARM role) on that database only to every principal in `principals`. The app never
// creates containers.
param name string
param location string
param tags object = {}

@description('Serverless capacity (pay per request). false: autoscale throughput on the database.')
param serverless bool = true
param autoscaleMaxThroughput int = 1000

param databaseName string
param containerName string

@description('Principals to grant: [{ id, type }].')
param principals array

// Cosmos DB Built-in Data Contributor (data plane: read/write items, query, change feed).
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless
      ? [
          {
            name: 'EnableServerless'
          }
        ]
      : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless
      ? {}
      : {
          autoscaleSettings: {
            maxThroughput: autoscaleMaxThroughput
          }
        }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/thread_id'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
      // Same policy the app uses when it creates the container locally
      // (agent/memory/cosmos_account.py): checkpoint payloads are never queried.
      indexingPolicy: {
        indexingMode: 'consistent'
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/data/?'
          }
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
  }
}

// The data-plane scope of the assignment: the thread database, not the whole account. Cosmos
// SQL role scopes are data-plane paths: the account id, then /dbs/<database>[/colls/<container>].
var databaseScope = '${account.id}/dbs/${database.name}'

// One at a time: Cosmos DB takes an exclusive lock on the account for each SQL role
// assignment, and assignments created in parallel can fail with 412 PreconditionFailed
// ("There is another user operation in progress"). azd's own Cosmos templates loop with
// @batchSize(1) for the same reason.
@batchSize(1)
resource dataRoles 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principal in principals: {
    parent: account
    // The scope is part of the name: an assignment's scope cannot be changed in place.
    name: guid(databaseScope, principal.id, cosmosDataContributor)
    properties: {
      roleDefinitionId: '${account.id}/sqlRoleDefinitions/${cosmosDataContributor}'
      principalId: principal.id
      scope: databaseScope
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output containerName string = container.name
