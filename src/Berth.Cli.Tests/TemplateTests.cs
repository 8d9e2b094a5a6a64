using System.Text.Json;
using Berth.Cli.Templates;

namespace Berth.Cli.Tests;

public class TemplateTests
{
    static JsonElement Doc(string json) => JsonDocument.Parse(json).RootElement;

    static readonly JsonElement Container = Doc("""
        {"Id":"abc","State":{"ExitCode":3,"Running":false},"Config":{"Hostname":"h1","Cmd":["sh","-c","x"],"Labels":{"b":"2","a":"1"},"Env":["<x>"]},
         "RepoTags":["busybox:latest","busybox:1"]}
        """);

    [Theory]
    [InlineData("{{.State.ExitCode}}", "3")]
    [InlineData("{{.Config.Hostname}}", "h1")]
    [InlineData("{{index .RepoTags 0}}", "busybox:latest")]
    [InlineData("{{join .Config.Cmd \" \"}}", "sh -c x")]
    [InlineData("{{upper .Config.Hostname}}", "H1")]
    [InlineData("{{range .Config.Cmd}}[{{.}}]{{end}}", "[sh][-c][x]")]
    [InlineData("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;")]
    [InlineData("{{if .State.Running}}up{{else}}down{{end}}", "down")]
    [InlineData("{{if eq .State.ExitCode 3}}three{{end}}", "three")]
    [InlineData("{{printf \"%s-%d\" .Config.Hostname .State.ExitCode}}", "h1-3")]
    [InlineData("{{.Config.Hostname | lower}}", "h1")]
    [InlineData("{{json .Config.Env}}", "[\"<x>\"]")]
    [InlineData("{{- .Id -}} ", "abc")]
    [InlineData("{{.Missing}}", "<no value>")]
    [InlineData("{{len .RepoTags}}", "2")]
    public void Evaluates_docker_format_forms(string template, string expected) =>
        Assert.Equal(expected, Template.Parse(template).Execute(Container));

    [Fact]
    public void Json_of_a_row_sorts_keys_and_escapes_html_like_go()
    {
        var row = new Row { ["Tag"] = "<none>", ["ID"] = "x" };
        Assert.Equal("{\"ID\":\"x\",\"Tag\":\"\\u003cnone\\u003e\"}", Template.Parse("{{json .}}").Execute(row));
    }

    [Fact]
    public void Row_methods_take_arguments()
    {
        var row = new Row { ["Label"] = (RowMethod)(a => "v:" + GoJson.Print(a[0])) };
        Assert.Equal("v:k", Template.Parse("{{.Label \"k\"}}").Execute(row));
    }

    [Fact]
    public void Unknown_function_is_reported()
    {
        var e = Assert.Throws<TemplateException>(() => Template.Parse("{{nope .}}").Execute(Container));
        Assert.Contains("\"nope\" not defined", e.Message);
    }
}
