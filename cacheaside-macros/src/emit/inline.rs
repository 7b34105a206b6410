//! Without companions (a trait impl block cannot hold extra items): the body rewritten in place.

use proc_macro2::TokenStream;
use quote::quote;

use crate::check::plan::Plan;
use crate::emit::key::{key_expr, variants};
use crate::emit::kind::{check_traits, kind_marker};
use crate::emit::local::through_local_with_spec;
use crate::emit::names::Names;
use crate::emit::signature::wrapper_fn;
use crate::emit::spec::{get_or_load_name, local_tier_value, policy_static_item, spec_static_item};

/// Without companions (a trait impl block cannot hold extra items) the body is rewritten in place.
pub fn body_inline(plan: &Plan) -> TokenStream {
    let names = Names::new(plan);
    let Names {
        spec_static,
        policy_static,
        key,
        kind,
        load,
        returned,
        ..
    } = &names;
    let krate = &plan.krate;
    let function = &plan.function;
    let spec_item = spec_static_item(krate, spec_static, &plan.spec);
    let policy_item = policy_static_item(plan, policy_static);
    let uses = check_traits(krate);
    let keys: Vec<TokenStream> = (variants(plan).iter())
        .map(|variant| {
            let cfg = &variant.cfg;
            let key_expr = key_expr(plan, &names, &variant.present);
            quote!(#cfg let #key = #key_expr;)
        })
        .collect();
    let checked_kind = kind_marker(plan);
    let alias_probe = plan.return_kind.alias_probe(krate);
    let params = plan.inputs.params.iter();
    let rebindings = params.filter(|param| param.needs_rebinding()).map(|param| {
        let pat = &param.pat;
        let binding = &param.binding;
        let cfg = param.cfg().map(|predicate| quote!(#[cfg(#predicate)]));
        quote!(#cfg let #pat = #binding;)
    });
    let return_type = &plan.return_kind.ty;
    let body = &function.body;
    let lazy = plan.flavor.lazy_block(quote! {{
        #(#rebindings)*
        // Typed so that `?` and `return` in the body see the declared return type.
        let #returned: #return_type = #body;
        #returned
    }});
    let get_or_load = plan.flavor.runtime_fn(get_or_load_name(plan));
    let get_or_load =
        quote!(#krate::__private::#get_or_load(&#spec_static, &#policy_static, #key, #kind, #load));
    let local_static = &names.local_static;
    let local_binding = match plan.policy.local {
        Some(_) => {
            let tier = local_tier_value(plan);
            quote!(static #local_static: #krate::__private::LocalTier = #tier;)
        }
        None => TokenStream::new(),
    };
    let spec_ref = quote!(&#spec_static);
    let get_or_load = through_local_with_spec(
        plan,
        &names,
        &quote!(&#local_static),
        &spec_ref,
        get_or_load,
        false,
    );
    let body = quote! {
        #uses
        #spec_item
        #policy_item
        #local_binding
        #(#keys)*
        let #kind = #checked_kind;
        #alias_probe
        let #load = #lazy;
        #get_or_load
    };
    wrapper_fn(plan, body)
}
