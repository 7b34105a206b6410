//! The names of the hidden items and locals of a generated function.

use proc_macro2::{Ident, Span};

use crate::check::plan::Plan;

/// Names of the hidden items and locals. All are mixed-site so they never meet the user's names:
/// an argument may be called `key`, `spec` or even `__cacheaside_load_get`.
pub struct Names {
    pub loader: Ident,
    /// The hidden function the default key's path is read from (`KeyPath`); the runtime finds
    /// the function's name after its `__cacheaside_path_` prefix (`key.rs`, `PATH_FUNCTION`).
    pub path: Ident,
    pub spec_static: Ident,
    pub spec: Ident,
    pub policy_static: Ident,
    pub policy: Ident,
    pub local_tier: Ident,
    pub local_static: Ident,
    pub local: Ident,
    pub local_key: Ident,
    pub local_ops: Ident,
    pub key: Ident,
    pub key_args: Ident,
    pub kind: Ident,
    pub load: Ident,
    pub returned: Ident,
}

impl Names {
    pub fn new(plan: &Plan) -> Self {
        let name = &plan.spec.function;
        let local = |text: &str| Ident::new(text, Span::mixed_site());
        Names {
            loader: local(&format!("__cacheaside_load_{name}")),
            path: local(&format!("__cacheaside_path_{name}")),
            spec_static: local("__CACHEASIDE_SPEC"),
            spec: local("__cacheaside_spec"),
            policy_static: local("__CACHEASIDE_POLICY"),
            policy: local("__cacheaside_policy"),
            local_tier: local(&format!("__cacheaside_local_{name}")),
            local_static: local("__CACHEASIDE_LOCAL"),
            local: local("__cacheaside_local"),
            local_key: local("__cacheaside_local_key"),
            local_ops: local("__cacheaside_local_ops"),
            key: local("__cacheaside_key"),
            key_args: local("__cacheaside_key_args"),
            kind: local("__cacheaside_kind"),
            load: local("__cacheaside_load"),
            returned: local("__cacheaside_returned"),
        }
    }
}
