package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pika-dj/pika/accounts"
)

// DJ accounts' REST endpoints (issue 7): register, log in for an API token,
// list, make and revoke tokens. The work is package accounts'; this file
// decodes and validates bodies and turns its answers into REST ones.

// Accounts is what the gateway asks of DJ accounts (Config.Accounts);
// *accounts.Store implements it over PostgreSQL.
type Accounts interface {
	Register(ctx context.Context, login, password, name string) (djID string, err error)
	Login(ctx context.Context, r accounts.LoginRequest) (accounts.NewToken, error)
	Authenticate(ctx context.Context, token string) (djID string, err error)
	Tokens(ctx context.Context, djID string) ([]accounts.Token, error)
	CreateToken(ctx context.Context, djID, name string, expiresIn time.Duration) (accounts.NewToken, error)
	Revoke(ctx context.Context, djID string, id int64) (accounts.Token, error)
}

const (
	// maxAccountBody bounds the JSON of these endpoints: a password of
	// accounts.MaxPasswordLen bytes fits with room to spare.
	maxAccountBody = 4096
	// maxTokenDays bounds a token's lifetime, in days (0: never expires).
	maxTokenDays = 3650

	codeUnauthorized   = "unauthorized"
	codeBadCredentials = "bad_credentials"
	codeLoginTaken     = "login_taken"
	codeTooLarge       = "too_large"
	codeTokenRevoked   = "token_revoked"
	codeTokenExpired   = "token_expired"
	codeUnknownToken   = "unknown_token"
)

// registerBody is POST /api/accounts.
type registerBody struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	Name     string `json:"name"` // the name dancers see
}

// loginBody is POST /api/login.
type loginBody struct {
	Login         string `json:"login"`
	Password      string `json:"password"`
	TokenName     string `json:"tokenName"`
	ExpiresInDays int    `json:"expiresInDays"` // 0 or absent: the token never expires
}

// tokenBody is POST /api/tokens.
type tokenBody struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expiresInDays"`
}

// registered answers POST /api/accounts.
type registered struct {
	DJID string `json:"djId"`
}

// accountRoutes adds the account endpoints to api.
func (g *Gateway) accountRoutes(api fiber.Router) {
	api.Post("/accounts", g.registerAccount)
	api.Post("/login", g.login)
	api.Get("/tokens", g.listTokens)
	api.Post("/tokens", g.createToken)
	api.Delete("/tokens/:id", g.revokeToken)
}

// badBody is a request body that cannot be used; status is 400 or 413.
type badBody struct {
	status int
	reason string
}

func (e *badBody) Error() string { return e.reason }

// decodeAccountBody decodes one JSON object into into: no unknown fields,
// nothing after it, at most maxAccountBody bytes. Its reasons are for
// people.
func decodeAccountBody(body []byte, into any) error {
	if len(body) > maxAccountBody {
		return &badBody{fiber.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is over %d bytes.", maxAccountBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return &badBody{fiber.StatusBadRequest, "The request needs a JSON object as its body."}
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return &badBody{fiber.StatusBadRequest, "The field " + strconv.Quote(typeErr.Field) + " has the wrong type."}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &badBody{fiber.StatusBadRequest, "Unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "."}
		default:
			return &badBody{fiber.StatusBadRequest, "The body is not a JSON object of the expected shape."}
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &badBody{fiber.StatusBadRequest, "The body must be one JSON object and nothing after it."}
	}
	return nil
}

// Validation, with the reasons a person reads.
func (b *registerBody) validate() error {
	if _, err := accounts.NormalizeLogin(b.Login); err != nil {
		return &badBody{fiber.StatusBadRequest, "login must be 3 to 64 characters: letters a–z, digits and . _ - @ + (case does not matter)."}
	}
	if err := accounts.CheckPassword(b.Password); err != nil {
		return &badBody{fiber.StatusBadRequest, fmt.Sprintf("password must be at least %d characters (and at most %d bytes); a few words make a good one.",
			accounts.MinPasswordLen, accounts.MaxPasswordLen)}
	}
	if _, err := accounts.CleanName(b.Name); err != nil {
		return &badBody{fiber.StatusBadRequest, "name is the name dancers see: 1 to 100 characters."}
	}
	return nil
}

func (b *loginBody) validate() error {
	if b.Login == "" || b.Password == "" {
		return &badBody{fiber.StatusBadRequest, "login and password are both needed."}
	}
	return checkToken(b.TokenName, b.ExpiresInDays, "tokenName")
}

func (b *tokenBody) validate() error { return checkToken(b.Name, b.ExpiresInDays, "name") }

func checkToken(name string, days int, field string) error {
	if _, err := accounts.CleanTokenName(name); err != nil {
		return &badBody{fiber.StatusBadRequest, fmt.Sprintf("%s must be at most %d characters.", field, accounts.MaxTokenNameLen)}
	}
	if days < 0 || days > maxTokenDays {
		return &badBody{fiber.StatusBadRequest, fmt.Sprintf("expiresInDays must be from 0 (never expires) to %d.", maxTokenDays)}
	}
	return nil
}

// readBody decodes and validates c's body, answering 400 or 413 itself.
func readBody[T any, P interface {
	*T
	validate() error
}](c *fiber.Ctx) (*T, bool) {
	var v T
	err := decodeAccountBody(c.Body(), &v)
	if err == nil {
		err = P(&v).validate()
	}
	var bb *badBody
	if errors.As(err, &bb) {
		code := codeBadRequest
		if bb.status == fiber.StatusRequestEntityTooLarge {
			code = codeTooLarge
		}
		_ = c.Status(bb.status).JSON(RESTError{Code: code, Reason: bb.reason})
		return nil, false
	}
	return &v, true
}

// needAccounts answers 503 no_database itself when there is no PostgreSQL.
func (g *Gateway) needAccounts(c *fiber.Ctx) bool {
	// Passwords and tokens must not linger in any cache.
	c.Set(fiber.HeaderCacheControl, "no-store")
	if g.cfg.Accounts != nil {
		return true
	}
	_ = c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeNoDatabase,
		Reason: "This Pika! server keeps no DJ accounts (it runs without a database); DJ accounts need a server with PostgreSQL."})
	return false
}

// registerAccount: POST /api/accounts → 201 {djId}.
func (g *Gateway) registerAccount(c *fiber.Ctx) error {
	if !g.needAccounts(c) {
		return nil
	}
	b, ok := readBody[registerBody](c)
	if !ok {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	dj, err := g.cfg.Accounts.Register(ctx, b.Login, b.Password, b.Name)
	switch {
	case errors.Is(err, accounts.ErrLoginTaken):
		return c.Status(fiber.StatusConflict).JSON(RESTError{Code: codeLoginTaken, Reason: "That login is taken; choose another."})
	case err != nil:
		return g.accountsUnavailable(c, "register", err)
	}
	return c.Status(fiber.StatusCreated).JSON(registered{DJID: dj})
}

// login: POST /api/login → {token, djId, expiresAt, id, name}.
func (g *Gateway) login(c *fiber.Ctx) error {
	if !g.needAccounts(c) {
		return nil
	}
	b, ok := readBody[loginBody](c)
	if !ok {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	tok, err := g.cfg.Accounts.Login(ctx, accounts.LoginRequest{Login: b.Login, Password: b.Password, IP: c.IP(),
		TokenName: b.TokenName, ExpiresIn: time.Duration(b.ExpiresInDays) * 24 * time.Hour})
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		secs := int((te.RetryAfter + time.Second - 1) / time.Second)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return c.Status(fiber.StatusTooManyRequests).JSON(RESTError{Code: codeRateLimited,
			Reason: fmt.Sprintf("Too many failed logins for this login or from this address; try again in %s.", te.RetryAfter.Round(time.Second))})
	case errors.Is(err, accounts.ErrBadCredentials):
		return c.Status(fiber.StatusUnauthorized).JSON(RESTError{Code: codeBadCredentials, Reason: "Wrong login or password."})
	case err != nil:
		return g.accountsUnavailable(c, "login", err)
	}
	return c.JSON(tok)
}

// djAuth finds the DJ of the request's API token (Authorization: Bearer),
// answering 400, 401 or 503 itself (ok=false).
func (g *Gateway) djAuth(c *fiber.Ctx) (string, bool) {
	if credentialInAddress(c, "the API token", "token", "access_token", "key") {
		return "", false
	}
	token, _, bearer := bearerCredential(c)
	if !bearer {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
		_ = c.Status(fiber.StatusUnauthorized).JSON(RESTError{Code: codeUnauthorized,
			Reason: "This needs your API token: Authorization: Bearer pika_…; log in to get one."})
		return "", false
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	dj, err := g.cfg.Accounts.Authenticate(ctx, token)
	refuse := func(code, reason string) (string, bool) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
		_ = c.Status(fiber.StatusUnauthorized).JSON(RESTError{Code: code, Reason: reason})
		return "", false
	}
	switch {
	case err == nil:
		return dj, true
	case errors.Is(err, accounts.ErrTokenRevoked):
		return refuse(codeTokenRevoked, "This API token was revoked; log in to get a new one.")
	case errors.Is(err, accounts.ErrTokenExpired):
		return refuse(codeTokenExpired, "This API token has expired; log in to get a new one.")
	case errors.Is(err, accounts.ErrBadToken):
		return refuse(codeUnauthorized, "That is not a valid Pika! API token.")
	}
	_ = g.accountsUnavailable(c, "check token", err)
	return "", false
}

// listTokens: GET /api/tokens, the DJ's tokens without their secrets.
func (g *Gateway) listTokens(c *fiber.Ctx) error {
	if !g.needAccounts(c) {
		return nil
	}
	dj, ok := g.djAuth(c)
	if !ok {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	list, err := g.cfg.Accounts.Tokens(ctx, dj)
	if err != nil {
		return g.accountsUnavailable(c, "list tokens", err)
	}
	if list == nil {
		list = []accounts.Token{}
	}
	return c.JSON(list)
}

// createToken: POST /api/tokens → 201, the new token (shown this once).
func (g *Gateway) createToken(c *fiber.Ctx) error {
	if !g.needAccounts(c) {
		return nil
	}
	dj, ok := g.djAuth(c)
	if !ok {
		return nil
	}
	b, ok := readBody[tokenBody](c)
	if !ok {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	tok, err := g.cfg.Accounts.CreateToken(ctx, dj, b.Name, time.Duration(b.ExpiresInDays)*24*time.Hour)
	if err != nil {
		return g.accountsUnavailable(c, "create token", err)
	}
	return c.Status(fiber.StatusCreated).JSON(tok)
}

// revokeToken: DELETE /api/tokens/{id} → the token, revoked. Another DJ's
// token is 404, as one that does not exist.
func (g *Gateway) revokeToken(c *fiber.Ctx) error {
	if !g.needAccounts(c) {
		return nil
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id < 1 {
		return c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest, Reason: "A token id is a positive number (see GET /api/tokens)."})
	}
	dj, ok := g.djAuth(c)
	if !ok {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	tok, err := g.cfg.Accounts.Revoke(ctx, dj, id)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return c.Status(fiber.StatusNotFound).JSON(RESTError{Code: codeUnknownToken, Reason: "You have no token " + strconv.FormatInt(id, 10) + "."})
	case err != nil:
		return g.accountsUnavailable(c, "revoke token", err)
	}
	return c.JSON(tok)
}

// accountsUnavailable answers 503 when PostgreSQL fails, logging why.
func (g *Gateway) accountsUnavailable(c *fiber.Ctx, what string, err error) error {
	g.log.Error("accounts: "+what, "err", err)
	return c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeUnavailable,
		Reason: "DJ accounts cannot be reached right now; try again in a moment."})
}
