//! The signatures of generated functions: the user's, renamed, with only some arguments and the
//! generic parameters those need; and the attributes a generated function copies.

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, FnArg, GenericParam, Generics, ReturnType, Signature, Token};

use crate::check::plan::Plan;
use crate::parse::item::mentions;

/// The original signature with another name and output, the receiver, and only the arguments in
/// `args`, each declared by its plain binding (patterns and `mut` stay in the loader).
pub fn wrapper_sig(plan: &Plan, ident: &Ident, args: &[usize], output: ReturnType) -> Signature {
    let mut sig = plan.function.sig.clone();
    sig.ident = ident.clone();
    sig.output = output;
    let mut inputs: Punctuated<FnArg, Token![,]> = Punctuated::new();
    if let Some(receiver) = &plan.inputs.receiver {
        inputs.push(FnArg::Receiver(receiver.clone()));
    }
    for &index in args {
        let declaration = plan.inputs.params[index].declaration();
        inputs.push(syn::parse_quote!(#declaration));
    }
    sig.inputs = inputs;
    sig
}

/// Keeps the generic parameters that the given inputs or the key (`key_uses`, see [`key_uses`])
/// use, directly or through bounds, so that callers of `<fn>_invalidate` never face a parameter
/// they cannot infer or name, and always one their key depends on.
pub fn prune_generics(
    generics: &Generics,
    inputs: &Punctuated<FnArg, Token![,]>,
    key_uses: &TokenStream,
) -> Generics {
    let mut used = inputs.to_token_stream();
    used.extend(key_uses.clone());
    let params: Vec<&GenericParam> = generics.params.iter().collect();
    let predicates: Vec<&syn::WherePredicate> = generics
        .where_clause
        .iter()
        .flat_map(|clause| &clause.predicates)
        .collect();
    let mut keep: Vec<bool> = params
        .iter()
        .map(|param| mentions(&used, param_ident(param)))
        .collect();
    loop {
        let mut sources = TokenStream::new();
        for (param, _) in params.iter().zip(&keep).filter(|(_, kept)| **kept) {
            param.to_tokens(&mut sources);
        }
        for predicate in &predicates {
            let touches_kept = params
                .iter()
                .zip(&keep)
                .any(|(param, kept)| *kept && mentions(predicate, param_ident(param)));
            if touches_kept {
                predicate.to_tokens(&mut sources);
            }
        }
        let mut changed = false;
        for (param, kept) in params.iter().zip(keep.iter_mut()) {
            if !*kept && mentions(&sources, param_ident(param)) {
                *kept = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut pruned = generics.clone();
    pruned.params = params
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(param, _)| (*param).clone())
        .collect();
    if let Some(clause) = &mut pruned.where_clause {
        clause.predicates = (predicates.iter())
            .filter(|predicate| {
                params
                    .iter()
                    .zip(&keep)
                    .all(|(param, kept)| *kept || !mentions(*predicate, param_ident(param)))
            })
            .map(|predicate| (*predicate).clone())
            .collect();
    }
    pruned
}

pub fn param_ident(param: &GenericParam) -> &Ident {
    match param {
        GenericParam::Type(param) => &param.ident,
        GenericParam::Lifetime(param) => &param.lifetime.ident,
        GenericParam::Const(param) => &param.ident,
    }
}

pub fn attrs_named<'a>(attrs: &'a [Attribute], names: &[&str]) -> Vec<&'a Attribute> {
    attrs
        .iter()
        .filter(|attr| names.iter().any(|name| attr.path().is_ident(name)))
        .collect()
}
