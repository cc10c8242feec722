// App Service Authentication ("Easy Auth") on the function app, with Microsoft Entra ID.
//
// Deployed only when main.bicep's authEnabled is true. Easy Auth then stands in front of the
// app: it validates the caller's Entra ID token (or browser session), answers 401 to anyone
// signed out, and passes the signed-in user to the app in the X-MS-CLIENT-PRINCIPAL header,
// which it strips from what clients send. The app (AUTH_MODE=easyauth, app/appsettings.bicep)
// gives each user their own threads. Checked against the Microsoft.Web/sites/config
// 'authsettingsV2' schema.
//
// Keyless: Easy Auth's credential for the app registration (sign-in redirects need one) is the
// app's user-assigned managed identity, through a federated identity credential on the
// registration (`clientSecretSettingName: OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID`, the app
// setting holding the identity's client id). The registration and that credential are created
// once by hand: Bicep cannot create Entra ID objects here (docs/deploy.md, "Sign-in").
param siteName string

@description('Application (client) id of the Entra ID app registration users sign in to.')
param clientId string

@description('Tenant of the app registration.')
param tenantId string

// What stays reachable without signing in: liveness, the API docs and the chat page with its
// files (the page's own API calls then need the session: it offers a sign-in link on 401).
@description('Paths Easy Auth lets through without a signed-in user (a trailing /* matches below).')
param excludedPaths array = [
  '/health'
  '/openapi.json'
  '/docs'
  '/docs/assets/*'
  '/chat'
  '/chat/assets/*'
]

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      // An API: a signed-out call gets 401 (a browser is not redirected to a login page).
      unauthenticatedClientAction: 'Return401'
      excludedPaths: excludedPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
          clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
        }
        validation: {
          // Tokens for the API (its application id URI) or for the registration itself.
          allowedAudiences: [
            'api://${clientId}'
            clientId
          ]
        }
      }
    }
    login: {
      // The app needs only the principal header, never the user's own tokens.
      tokenStore: {
        enabled: false
      }
    }
  }
}
