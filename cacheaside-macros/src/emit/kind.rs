//! The runtime's kind markers: which part of the return value is cached, checked against the
//! declared return type where the error should point.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

use crate::check::plan::{Plan, ReturnKind};
use crate::parse::values::Kind;

impl ReturnKind {
    /// The runtime's marker value for this kind, obtained through a check of the declared return
    /// type that is spanned on it. Needs the `…Fallback` traits of `__private` in scope.
    pub fn checked_marker(&self, krate: &impl ToTokens) -> TokenStream {
        let ty = &self.ty;
        let method = match self.kind {
            Kind::Result => quote::format_ident!("result_kind", span = self.span),
            Kind::Option => quote::format_ident!("option_kind", span = self.span),
            Kind::Plain => quote::format_ident!("plain_kind", span = self.span),
        };
        quote_spanned!(self.span=> #krate::__private::CachedReturn::<#ty>::new().#method())
    }

    /// A statement that stops compilation when a return type guessed to be plain is a `Result` or
    /// an `Option` behind an alias; nothing otherwise.
    pub fn alias_probe(&self, krate: &impl ToTokens) -> TokenStream {
        if !self.guessed_plain {
            return TokenStream::new();
        }
        let ty = &self.ty;
        let probe = Ident::new("probe_kind", self.span);
        let confirm = Ident::new("confirm_plain", self.span);
        quote_spanned!(self.span=> #krate::__private::KindProbe::<#ty>::new().#probe().#confirm();)
    }
}

/// The runtime's kind marker, checked against the declared return type; `none_ttl` turns the
/// `Option` kind into the one that caches `None` too.
pub fn kind_marker(plan: &Plan) -> TokenStream {
    let checked = plan.return_kind.checked_marker(&plan.krate);
    let kind = match plan.policy.none_ttl {
        Some(_) => quote!(#checked.cache_none()),
        None => checked,
    };
    let krate = &plan.krate;
    let return_type = &plan.return_kind.ty;
    match &plan.policy.ttl_from {
        Some(path) => quote! {
            #krate::__private::TtlFromCheck::<#return_type, _>::new(#kind).ttl_from(#path)
        },
        None => kind,
    }
}

/// The runtime's kind marker type, to name the cached value's type in `<fn>_peek`.
pub fn kind_type(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    match (plan.return_kind.kind, plan.policy.none_ttl) {
        (Kind::Option, Some(_)) => quote!(#krate::__private::NegativeOptionKind),
        (kind, _) => marker_type(krate, kind),
    }
}

/// The runtime's marker type of a kind, unchecked: `ResultKind`, `OptionKind` or `PlainKind`.
pub fn marker_type(krate: &syn::Path, kind: Kind) -> TokenStream {
    match kind {
        Kind::Result => quote!(#krate::__private::ResultKind),
        Kind::Option => quote!(#krate::__private::OptionKind),
        Kind::Plain => quote!(#krate::__private::PlainKind),
    }
}

/// Brings the fallback traits of the compile-time checks into scope (see the runtime's `__private::checks`).
pub fn check_traits(krate: &syn::Path) -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use #krate::__private::{
            AliasedKindCheck as _, CachedReturnFallback as _, KeyPartFallback as _,
            KindProbeFallback as _,
        };
    }
}
