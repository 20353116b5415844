# A SeeClickFix-shaped OAuth server on the real Doorkeeper 5.5 (Debian 12's ruby-doorkeeper),
# for the library's tests. One file, no bundler: it requires the Debian packages.
#
# The regime comes from the environment, read once at start (tests/doorkeeper/server.py starts
# one process per regime):
#   DK_PORT                 port on 127.0.0.1
#   DK_ROOT                 a scratch directory (database, logs)
#   DK_TOKEN_LIFETIME       access-token lifetime in seconds, or "never"          (7200)
#   DK_REFRESH              "on" / "off": issue refresh tokens                   (on)
#   DK_REVOKE_PREVIOUS      "first_use": the default migration's previous_refresh_token column,
#                           the old pair lives until the new token is used;
#                           "refresh": no such column, the old pair dies at refresh (first_use)
#   DK_REUSE_ACCESS_TOKEN   "on" / "off"                                          (off)
#   DK_PKCE                 "on" / "off": the PKCE migration's columns            (on)
#   DK_DEFAULT_SCOPES       "on": default scope "public"; "off": none, scope required (on)
#   DK_NAME                 a name for the instance, so a test can run two side by side
#
# Besides Doorkeeper's own routes (/oauth/authorize, /oauth/token, /oauth/revoke,
# /oauth/token/info, /oauth/authorized_applications) it serves SeeClickFix's shape: a sign-in page,
# GET /api/v2/profile and GET /api/v2/profile/issues; and, for the tests only, /_control/...
# to create users and applications, list token rows and age them.

require "fileutils"
require "json"
require "logger"

ENV["RAILS_ENV"] = "production"
ROOT = ENV.fetch("DK_ROOT")
FileUtils.mkdir_p(File.join(ROOT, "log"))
ENV["DATABASE_URL"] = "sqlite3:#{File.join(ROOT, 'doorkeeper.sqlite3')}?pool=16&timeout=5000"

require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "action_view/railtie"
require "sqlite3"
require "doorkeeper"

def regime(name, default)
  ENV.fetch("DK_#{name}", default)
end

REGIME = {
  token_lifetime: regime("TOKEN_LIFETIME", "7200"),
  refresh: regime("REFRESH", "on") == "on",
  revoke_previous: regime("REVOKE_PREVIOUS", "first_use"),
  reuse_access_token: regime("REUSE_ACCESS_TOKEN", "off") == "on",
  pkce: regime("PKCE", "on") == "on",
  default_scopes: regime("DEFAULT_SCOPES", "on") == "on",
  name: regime("NAME", "seeclickfix"),
}.freeze

class DoorkeeperServer < Rails::Application
  config.root = ROOT
  config.eager_load = false
  config.secret_key_base = "doorkeeper-test-server-only"
  config.require_master_key = false
  config.consider_all_requests_local = true
  config.logger = Logger.new(File.join(ROOT, "log", "rails.log"))
  config.log_level = :info
  config.session_store :cookie_store, key: "_dk_session"
  config.action_controller.default_protect_from_forgery = true
end

# The schema, as Doorkeeper's generators write it; the regime drops the optional columns.
def create_schema
  ActiveRecord::Schema.verbose = false
  ActiveRecord::Schema.define do
    create_table :users do |t|
      t.string :email, null: false
      t.string :password, null: false
      t.string :name, null: false
      t.timestamps null: false
    end
    add_index :users, :email, unique: true

    create_table :oauth_applications do |t|
      t.string :name, null: false
      t.string :uid, null: false
      t.string :secret, null: false
      t.text :redirect_uri, null: false
      t.string :scopes, null: false, default: ""
      t.boolean :confidential, null: false, default: true
      t.timestamps null: false
    end
    add_index :oauth_applications, :uid, unique: true

    create_table :oauth_access_grants do |t|
      t.references :resource_owner, null: false
      t.references :application, null: false
      t.string :token, null: false
      t.integer :expires_in, null: false
      t.text :redirect_uri, null: false
      t.datetime :created_at, null: false
      t.datetime :revoked_at
      t.string :scopes, null: false, default: ""
      if REGIME[:pkce]
        t.string :code_challenge, null: true
        t.string :code_challenge_method, null: true
      end
    end
    add_index :oauth_access_grants, :token, unique: true

    create_table :oauth_access_tokens do |t|
      t.references :resource_owner, index: true
      t.references :application, null: false
      t.string :token, null: false
      t.string :refresh_token
      t.integer :expires_in
      t.datetime :revoked_at
      t.datetime :created_at, null: false
      t.string :scopes
      if REGIME[:revoke_previous] == "first_use"
        t.string :previous_refresh_token, null: false, default: ""
      end
    end
    add_index :oauth_access_tokens, :token, unique: true
    add_index :oauth_access_tokens, :refresh_token, unique: true
  end
end

Doorkeeper.configure do
  orm :active_record

  resource_owner_authenticator do
    User.find_by(id: session[:user_id]) || begin
      session[:return_to] = request.fullpath
      redirect_to("/users/sign_in")
      nil
    end
  end

  admin_authenticator { head :forbidden }

  grant_flows %w[authorization_code implicit client_credentials]
  force_ssl_in_redirect_uri false

  lifetime = REGIME[:token_lifetime]
  access_token_expires_in(lifetime == "never" ? nil : Integer(lifetime))
  use_refresh_token if REGIME[:refresh]
  reuse_access_token if REGIME[:reuse_access_token]

  if REGIME[:default_scopes]
    default_scopes :public
    optional_scopes :write
  else
    optional_scopes :public, :write
  end
end

DoorkeeperServer.initialize!
create_schema

class User < ActiveRecord::Base
  def profile
    {
      "id" => id,
      "name" => name,
      "email" => email,
      "witty_title" => "Street Smart",
      "civic_points" => 0,
      "avatar" => {
        "full" => "http://127.0.0.1/avatars/#{id}.png",
        "square_100x100" => "http://127.0.0.1/avatars/#{id}-100.png",
      },
      "permissions" => { "can_acknowledge" => false },
      "reported_issue_count" => 0,
      "closed_issue_count" => 0,
      "comments_count" => 0,
      "following_issue_count" => 0,
      "voted_issue_count" => 0,
      "created_at" => created_at.iso8601,
      "updated_at" => updated_at.iso8601,
    }
  end
end

class SessionsController < ActionController::Base
  def new
    render html: <<~HTML.html_safe
      <!DOCTYPE html><html><head><title>Sign in</title></head><body>
      <h1>Sign in to SeeClickFix</h1>
      <form method="post" action="/users/sign_in">
        <input type="hidden" name="authenticity_token" value="#{form_authenticity_token}">
        <label>Email <input name="email" type="email"></label>
        <label>Password <input name="password" type="password"></label>
        <button type="submit">Sign in</button>
      </form></body></html>
    HTML
  end

  def create
    user = User.find_by(email: params[:email], password: params[:password])
    return render(plain: "Wrong email or password.", status: :unauthorized) unless user

    session[:user_id] = user.id
    redirect_to(session.delete(:return_to) || "/oauth/authorized_applications")
  end
end

class ProfilesController < ActionController::API
  before_action -> { doorkeeper_authorize! }, only: :issues

  # SeeClickFix answers an unauthenticated profile request with {"id": null}, not a 401.
  def show
    token = doorkeeper_token
    user = token&.accessible? && User.find_by(id: token.resource_owner_id)
    render json: user ? user.profile : { "id" => nil }
  end

  def issues
    render json: {
      "issues" => [],
      "metadata" => { "pagination" => {
        "entries" => 0, "page" => 1, "per_page" => 20, "pages" => 0,
        "next_page" => nil, "next_page_url" => nil, "previous_page" => nil,
        "previous_page_url" => nil,
      } },
      "errors" => {},
    }
  end
end

# For the tests only: what a test needs to set up, and to see inside, Doorkeeper.
class ControlController < ActionController::API
  def regime
    render json: REGIME
  end

  def create_user
    user = User.create!(email: params.require(:email), password: params.require(:password),
                        name: params.require(:name))
    render json: { "id" => user.id }
  end

  def create_application
    app = Doorkeeper::Application.create!(
      name: params.require(:name),
      redirect_uri: Array(params.require(:redirect_uri)).join("\n"),
      confidential: params.fetch(:confidential, true),
      scopes: params.fetch(:scopes, ""),
    )
    render json: { "id" => app.id, "uid" => app.uid, "secret" => app.plaintext_secret || app.secret }
  end

  # Every token row of a user, with what Doorkeeper itself says of it.
  def tokens
    rows = Doorkeeper::AccessToken.where(resource_owner_id: params.require(:user_id)).order(:id)
    render json: rows.map { |row| token_row(row) }
  end

  # Moves a user's tokens back in time (the tests' way to let them expire without waiting).
  def age_tokens
    seconds = Integer(params.require(:seconds))
    Doorkeeper::AccessToken.where(resource_owner_id: params.require(:user_id)).find_each do |row|
      row.update_columns(created_at: row.created_at - seconds)
    end
    head :no_content
  end

  private

  def token_row(row)
    {
      "id" => row.id,
      "application_uid" => row.application&.uid,
      "token" => row.token,
      "refresh_token" => row.refresh_token,
      "previous_refresh_token" => row.try(:previous_refresh_token),
      "revoked" => row.revoked?,
      "expired" => row.expired?,
      "accessible" => row.accessible?,
      "scopes" => row.scopes.to_s,
    }
  end
end

DoorkeeperServer.routes.draw do
  use_doorkeeper
  get "/users/sign_in", to: "sessions#new"
  post "/users/sign_in", to: "sessions#create"
  get "/api/v2/profile", to: "profiles#show"
  get "/api/v2/profile/issues", to: "profiles#issues"
  get "/_control/regime", to: "control#regime"
  post "/_control/users", to: "control#create_user"
  post "/_control/applications", to: "control#create_application"
  get "/_control/tokens", to: "control#tokens"
  post "/_control/age", to: "control#age_tokens"
end

require "rack/handler/webrick"
Rack::Handler::WEBrick.run(
  DoorkeeperServer,
  Host: "127.0.0.1",
  Port: Integer(ENV.fetch("DK_PORT")),
  AccessLog: [],
  Logger: WEBrick::Log.new(File.join(ROOT, "log", "webrick.log")),
)
