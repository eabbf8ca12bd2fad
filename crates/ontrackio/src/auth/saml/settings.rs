//! The effective SAML settings of a workspace (the SAML card), cached per workspace.
