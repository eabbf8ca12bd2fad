//! The effective Google sign-in settings of a workspace (being written).
