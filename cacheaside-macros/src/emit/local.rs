//! The in-process tier of `local(…)`: looked up before the runtime call, filled after it.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::check::plan::{Flavor, Plan};
use crate::emit::names::Names;

/// A runtime call (`call`, not yet awaited; it consumes the key and the kind) behind the local
/// tier of `local(…)`: a local hit returns at once (not for a refresh, which clears the entry
/// instead), and the returned value is kept locally. Just the awaited call without `local(…)`.
pub fn through_local(
    plan: &Plan,
    names: &Names,
    local_ref: &TokenStream,
    call: TokenStream,
    refresh: bool,
) -> TokenStream {
    let spec = &names.spec;
    through_local_with_spec(plan, names, local_ref, &quote!(#spec), call, refresh)
}

pub fn through_local_with_spec(
    plan: &Plan,
    names: &Names,
    local_ref: &TokenStream,
    spec: &TokenStream,
    call: TokenStream,
    refresh: bool,
) -> TokenStream {
    if plan.policy.local.is_none() {
        return plan.flavor.wait(call);
    }
    let krate = &plan.krate;
    let call = boxed_call(plan, call);
    let Names {
        key,
        returned,
        local,
        local_key,
        ..
    } = names;
    if refresh {
        // Cleared before (the source changed) and after (a call meanwhile may have kept the old
        // value); the next call takes the new value from Aerospike. No `Clone` needed here.
        return quote! {
            let #local = #local_ref;
            #krate::__private::local_remove(#local, &#key);
            let #local_key = #key.clone();
            let #returned = #call;
            #krate::__private::local_remove(#local, &#local_key);
            #returned
        };
    }
    let lookup = local_lookup(plan, names, local_ref, spec);
    let store = local_miss(plan, names, spec, call);
    quote!(#lookup #store)
}

/// The local tier's lookup of `local(…)`: returns a local hit at once. `key` may be a built key
/// or the parts of a default key.
pub fn local_lookup(
    plan: &Plan,
    names: &Names,
    local_ref: &TokenStream,
    spec: &TokenStream,
) -> TokenStream {
    let krate = &plan.krate;
    let (key, kind, returned) = (&names.key, &names.kind, &names.returned);
    let (local, ops) = (&names.local, &names.local_ops);
    // The one check that the value can be kept and cloned, spanned on the return type.
    let return_type = &plan.return_kind.ty;
    let local_ops = Ident::new("local_ops", plan.return_kind.span);
    quote! {
        let #local = #local_ref;
        let #ops = #krate::__private::LocalCheck::<#return_type, _>::new(#kind).#local_ops();
        if let ::core::option::Option::Some(#returned) =
            #krate::__private::local_get(#ops, #local, #spec, &#key, #kind)
        {
            return #returned;
        }
    }
}

/// After a local miss (`key` built): the runtime call, whose returned value is kept locally.
fn local_miss(plan: &Plan, names: &Names, spec: &TokenStream, call: TokenStream) -> TokenStream {
    let krate = &plan.krate;
    let (key, kind, returned) = (&names.key, &names.kind, &names.returned);
    let (local, local_key, ops) = (&names.local, &names.local_key, &names.local_ops);
    quote! {
        let #local_key = #krate::__private::local_key(&#key);
        let #returned = #call;
        #krate::__private::local_store(#ops, #local, #spec, #local_key, #kind, &#returned);
        #returned
    }
}

/// [`local_miss`] with the call boxed (see [`boxed_call`]).
pub fn local_store(
    plan: &Plan,
    names: &Names,
    spec: &TokenStream,
    call: TokenStream,
) -> TokenStream {
    local_miss(plan, names, spec, boxed_call(plan, call))
}

/// The runtime call of a function with a local tier, awaited. Its future goes on the heap (on a
/// local miss only), since the hit path is short: the wrapper's own future stays small and cheap
/// to create and move.
fn boxed_call(plan: &Plan, call: TokenStream) -> TokenStream {
    let krate = &plan.krate;
    match plan.flavor {
        Flavor::Async => quote!(#krate::__private::boxed(#call).await),
        Flavor::Sync => call,
    }
}
