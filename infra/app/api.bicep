// The function app: Linux, Flex Consumption, Python, one user-assigned identity.
//
// Checked against the Microsoft.Web/sites@2024-04-01 schema and Microsoft's Flex Consumption
// guidance (docs/deploy.md): no siteConfig property the plan deprecates (ftpsState,
// http20Enabled, alwaysOn, linuxFxVersion, ...) and no app setting it rejects
// (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE, ...).
//
// Its application settings are exactly `appSettings` (built by app/appsettings.bicep, the one
// source of truth). Note that the `appsettings` config resource replaces the whole set on every
// `azd provision`: change settings in app/appsettings.bicep, not in the portal.
param name string
param location string
param tags object = {}

@description('Resource id of the Flex Consumption (FC1) plan.')
param planId string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Storage account holding the deployment package container (shared-key access disabled).')
param storageAccountName string
param deploymentContainerName string

param pythonVersion string
param instanceMemoryMB int
param maximumInstanceCount int

// HTTP per-instance concurrency. The Flex Consumption default for Python is 1 request per
// instance, which suits CPU-bound sync handlers. Our handlers are async and stream: a chat
// request holds its connection open for tens of seconds while it mostly awaits the model and
// the tools over the network, so at 1 every open stream would pin a whole instance (scale-out
// and cold starts per conversation). 16 lets one 2048 MB instance interleave 16 such streams on
// the worker's event loop while keeping enough headroom for the CPU-bound moments (building
// the local docs index, JSON, SQLite) so a burst scales out instead of starving the loop.
param httpPerInstanceConcurrency int

@description('Browser origins allowed by CORS; empty disables CORS.')
param corsAllowedOrigins array = []

@description('Every application setting of the app, from app/appsettings.bicep.')
param appSettings object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    // Only what Flex Consumption supports: FTP is off through the basic-publishing-credentials
    // policies below (Flex has no siteConfig.ftpsState), and the runtime and scale settings
    // live in functionAppConfig, not in siteConfig or app settings.
    siteConfig: {
      minTlsVersion: '1.2'
      cors: empty(corsAllowedOrigins)
        ? null
        : {
            allowedOrigins: corsAllowedOrigins
            supportCredentials: false
          }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }

  resource appSettingsConfig 'config' = {
    name: 'appsettings'
    properties: appSettings
  }

  // No publishing with user names and passwords: azd deploys with an Entra token.
  // `location` is not in the resource type's published schema, but ARM refuses the policy
  // without it on some subscriptions ("The parameter location has an invalid value";
  // Azure/bicep-types-az#1317, #1529); the AVM module (avm/res/web/site) sets it too.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    location: location
    properties: {
      allow: false
    }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    location: location
    properties: {
      allow: false
    }
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
