// Access to the model account (created by modules/openai.bicep or brought by parameter):
// grants "Cognitive Services OpenAI User" (call deployments, no management rights) to every
// principal in `principals` and, when given, to the Azure AI Search service's identity (its
// vectorizer calls the embedding deployment), and returns the account's Azure OpenAI endpoint.
// Deployed into the account's resource group so the role assignments can be scoped to the
// account itself. The account is only read here (`existing`): a brought account is never
// re-provisioned, whatever its kind (OpenAI, or AIServices after a Foundry upgrade).
param accountName string

@description('Principals to grant: [{ id, type }].')
param principals array

@description('Principal id of the Azure AI Search system-assigned identity that calls the embedding deployment. Empty: none.')
param searchPrincipalId string = ''

var openAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' existing = {
  name: accountName
}

resource openAiRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(account.id, principal.id, openAiUser)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource searchOpenAiRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(searchPrincipalId)) {
  name: guid(account.id, searchPrincipalId, openAiUser)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)
    principalId: searchPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The Azure OpenAI endpoint, https://<name>.openai.azure.com/, on both kinds of account:
// `properties.endpoint` of an AIServices account is its cognitiveservices.azure.com one.
output endpoint string = account.properties.endpoints['OpenAI Language Model Instance API']
