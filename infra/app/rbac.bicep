// Platform data roles: what the Functions host itself needs, granted to every principal in
// `principals` (the app's identity and, when known, the deploying user).
//
// - Storage Blob Data Owner on the storage account: the host reads the deployment package,
//   keeps its keys and leases in blobs (AzureWebJobsStorage over the identity).
// - Monitoring Metrics Publisher on Application Insights: Entra-only ingestion
//   (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) accepts telemetry only from holders of this role.
param storageAccountName string
param appInsightsName string

@description('Principals to grant: [{ id, type }] with type ServicePrincipal or User.')
param principals array

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(storage.id, principal.id, storageBlobDataOwner)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource telemetryRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(appInsights.id, principal.id, monitoringMetricsPublisher)
    scope: appInsights
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
      principalId: principal.id
      principalType: principal.type
    }
  }
]
